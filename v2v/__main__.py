"""`python -m v2v`: the command line lives in `capture.cli`; this entry point (with v2v/cli.py, which it
runs) is the only place v2v reaches into capture and the plugins, so that the compute package itself
never imports I/O code."""

import sys


def _main() -> int:
    from v2v.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
