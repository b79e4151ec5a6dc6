"""Console-script entry point (`v2v ...`), the same as `python -m v2v ...`."""

import sys


def main() -> int:
    from capture.cli import main as capture_main

    return capture_main(sys.argv[1:])
