"""The command line: `python -m v2v` (live), `restyle`, `animate`, `generate`, `bench`, `doctor`, `train`.
See docs/usage.md.

Every bad input ends in one line `error: <what went wrong and how to fix it>` on stderr and exit
status 1 (2 for usage errors such as an unknown option), with a traceback only under `--debug`.
Inputs are checked before the model is loaded and before anything is written, so a mistake costs
nothing and an existing output is never truncated by a run that cannot work.

This module runs a command and turns its errors into that line; the parser is in capture/cli_parser.py,
the option values in capture/cli_values.py, the model in capture/cli_model.py and the commands in
capture/cli_commands.py.
"""

from __future__ import annotations

import sys
import traceback

from capture.cli_commands import cmd_animate, cmd_bench, cmd_doctor, cmd_generate, cmd_live, cmd_restyle, cmd_train
from capture.cli_parser import build_parser
from capture.cli_values import parse_camera_mode, parse_in_range, parse_size, parse_strength
from capture.errors import CaptureError

__all__ = ["build_parser", "main", "parse_camera_mode", "parse_in_range", "parse_size", "parse_strength"]


def _report(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    message = " ".join(str(error).split())
    if not isinstance(error, CaptureError):
        message = f"{type(error).__name__}: {message} (run again with --debug for the traceback)"
    print(f"error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    """Run the command line; return the exit status."""
    if argv[:1] == ["train"]:
        debug = "--debug" in argv
        try:
            return cmd_train(argv[1:])
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # one line, exit 1: the command line's promise
            return _report(e, debug)
    args = build_parser().parse_args(argv)
    commands = {
        None: cmd_live,
        "restyle": cmd_restyle,
        "animate": cmd_animate,
        "generate": cmd_generate,
        "bench": cmd_bench,
        "doctor": cmd_doctor,
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line, exit 1: the command line's promise
        return _report(e, args.debug)
