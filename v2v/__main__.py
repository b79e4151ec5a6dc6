"""`python -m v2v`: the command line lives in `capture.cli`; this entry point is the only place v2v
reaches into capture, so that the compute package itself never imports I/O code."""

import sys


def _main() -> int:
    from capture.cli import main

    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(_main())
