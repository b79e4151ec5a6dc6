"""A timed prompt script (`--script FILE`): the story of a generated video, one prompt change a line.

    # blank lines and lines starting with # are ignored
    0    blocky daytime landscape
    4    blocky night landscape
    8.5  realistic night landscape

Each line is `SECONDS PROMPT`: from the moment the stream's frame time reaches SECONDS (counted from its
first frame), PROMPT is the target (the engine blends it in over a few chunks, without a reset). Times are
in ascending order; a bad line is a one-line error naming the file, the line number and what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capture.errors import CaptureError

EXAMPLE = "4.5 a realistic night landscape"


@dataclass(frozen=True)
class Cue:
    """One prompt change of a script."""

    seconds: float  # frame time from the stream's first frame, ≥ 0
    prompt: str  # the new target text


def parse_script(text: str, name: str = "script") -> list[Cue]:
    """The cues of a script's `text`, in order; `name` (the file) is named in the errors."""
    cues: list[Cue] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"--script {name} line {number}"
        head, _, prompt = line.partition(" ")
        try:
            seconds = float(head)
        except ValueError:
            raise CaptureError(
                f"{where}: {head!r} is not a time in seconds: write SECONDS PROMPT, e.g. {EXAMPLE!r}"
            ) from None
        if not math.isfinite(seconds) or seconds < 0:
            raise CaptureError(f"{where}: the time must be a number of seconds ≥ 0, got {head}")
        prompt = prompt.strip()
        if not prompt:
            raise CaptureError(f"{where}: no prompt after the time: write SECONDS PROMPT, e.g. {EXAMPLE!r}")
        if cues and seconds < cues[-1].seconds:
            raise CaptureError(
                f"{where}: {head} s comes before the previous line's {cues[-1].seconds:g} s: "
                "put the lines in ascending order of time"
            )
        cues.append(Cue(seconds, prompt))
    if not cues:
        raise CaptureError(f"--script {name} has no prompt lines: write one SECONDS PROMPT a line, e.g. {EXAMPLE!r}")
    return cues


def read_script(path: str) -> list[Cue]:
    """`parse_script` of the file at `path`; a missing or unreadable file is a one-line error."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CaptureError(f"--script {path} does not exist: check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CaptureError(f"--script {path} cannot be read ({e}): give a UTF-8 text file") from None
    return parse_script(text, path)
