"""How a run shows its progress on stderr: the live status line, or the offline progress bar. Both are
`capture.pipeline.Reporter`s; the engine stage calls `step` every loop and each rate-limits itself."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from tqdm import tqdm

from capture.pipeline import Stats


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def status_text(stats: dict, steering: dict | None) -> str:
    """One line from `Stats.snapshot()` and `Steering.snapshot()` (None: no controls)."""
    text = (
        f"frames {stats['frames']} · {stats['fps']:.1f} fps · latency p50 {_ms(stats['latency_p50_ms'])} ms "
        f"p95 {_ms(stats['latency_p95_ms'])} ms · dropped {stats['dropped']}"
    )
    if steering is not None:
        text += f" · prompt {steering['prompt']!r} · strength {steering['strength']:g}"
        if steering["paused"]:
            text += " · paused"
    return text


class StatusLine:
    """The live status line: redrawn in place (\\r) every `tty_every_s` on a terminal; elsewhere (a log
    file, a pipe) a plain line when the first frame is out, then every `plain_every_s`. `extra()` gives
    the steering's snapshot for the line (None: no controls)."""

    def __init__(
        self,
        extra: Callable[[], dict | None] = lambda: None,
        stream: IO[str] | None = None,
        tty_every_s: float = 0.5,
        plain_every_s: float = 5.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = tty_every_s if self.tty else plain_every_s
        self.extra = extra
        self._lock = threading.Lock()
        self._shown = ""  # what the terminal line shows now
        self._last: float | None = None  # when it was last drawn

    def step(self, stats: Stats) -> None:
        """Draw the line when it is due (never before the first frame is out)."""
        now = time.monotonic()
        if stats.frames_out == 0 or (self._last is not None and now - self._last < self.every):
            return
        self._last = now
        self._draw(status_text(stats.snapshot(), self.extra()))

    def note(self, text: str) -> None:
        """A message on a line of its own; the status line is drawn again below it."""
        with self._lock:
            if self.tty and self._shown:
                self.stream.write("\r\033[K" + text + "\n" + self._shown)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the terminal line."""
        with self._lock:
            if self.tty and self._shown:
                self.stream.write("\n")
                self.stream.flush()
            self._shown = ""

    def _draw(self, text: str) -> None:
        with self._lock:
            if self.tty:
                width = shutil.get_terminal_size((100, 24)).columns
                self._shown = text[: max(10, width - 1)]  # a wrapped line could not be redrawn in place
                self.stream.write("\r\033[K" + self._shown)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()


class ProgressBar:
    """The offline progress bar (tqdm): frames in, frames/s and the time left when `total` is known."""

    def __init__(self, total: int | None, desc: str) -> None:
        self._bar = tqdm(total=total, unit="frame", desc=desc, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def step(self, stats: Stats) -> None:
        """Move the bar to the frames that went in."""
        if stats.frames_in > self._bar.n:
            self._bar.update(stats.frames_in - self._bar.n)

    def note(self, text: str) -> None:
        """A message above the bar."""
        self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        """Leave the bar as it ended."""
        self._bar.close()
