"""A real X window that plays the test pattern, counter included, for bench/glass_to_glass.py:

    python bench/glass_to_glass_window.py TITLE WxH FPS CLOCK_FILE

A pygame (SDL) window titled TITLE shows `pattern_image(i, (W, H))` from the moment frame i is due,
`start + i / FPS`, where `start` is `time.monotonic()` just before frame 0 is drawn (CLOCK_MONOTONIC is
one clock for every process on the machine, so the measuring process can compare its own times with
it). A frame drawn late is drawn anyway; frames whose time passed while it was drawn are skipped, so
the window never falls behind by more than one frame.

Once frame 0 is on the screen, CLOCK_FILE gets {"start": start, "fps": FPS, "window": X id}
(written whole, then renamed into place). On SIGTERM or SIGINT the window closes and CLOCK_FILE gets
the same with "late_ms_p50" / "late_ms_p95" added: how long after its due time each frame was on the
screen, the share of the latency that is this window's own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from capture.sources.pattern import pattern_image


def write_clock(path: Path, clock: dict[str, float | int]) -> None:
    """Replace `path` with `clock` as JSON in one step (a reader never sees half of it)."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(clock))
    os.replace(part, path)


def play(title: str, size: tuple[int, int], fps: float, clock_path: Path) -> None:
    """Show the pattern in a window until SIGTERM or SIGINT (see the module docstring)."""
    os.environ.update(SDL_VIDEODRIVER="x11", SDL_VIDEO_WINDOW_POS="0,0", PYGAME_HIDE_SUPPORT_PROMPT="1")
    import pygame

    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stopping.append(number))
    pygame.display.init()
    screen = pygame.display.set_mode(size)
    pygame.display.set_caption(title)
    window = int(pygame.display.get_wm_info()["window"])
    late: list[float] = []  # seconds from each frame's due time to its flip
    start = time.monotonic()
    index = 0
    while not stopping:
        due = start + index / fps
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pygame.event.pump()
        pygame.surfarray.blit_array(screen, pattern_image(index, size).transpose(1, 0, 2))  # surfarray is [W, H, 3]
        pygame.display.flip()
        shown = time.monotonic()
        late.append(shown - due)
        if index == 0:
            write_clock(clock_path, {"start": start, "fps": fps, "window": window})
        index = max(index + 1, int((shown - start) * fps))  # skip the frames whose time has passed
    pygame.display.quit()
    p50, p95 = np.percentile(np.array(late) * 1000.0, (50, 95)).tolist()
    write_clock(clock_path, {"start": start, "fps": fps, "window": window, "late_ms_p50": p50, "late_ms_p95": p95})


def main(argv: list[str]) -> int:
    """`TITLE WxH FPS CLOCK_FILE` -> play the pattern; 2 on a malformed command line."""
    if len(argv) != 4:
        print("usage: python bench/glass_to_glass_window.py TITLE WxH FPS CLOCK_FILE", file=sys.stderr)
        return 2
    title, size_text, fps_text, clock = argv
    w, _, h = size_text.partition("x")
    play(title, (int(w), int(h)), float(fps_text), Path(clock))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
