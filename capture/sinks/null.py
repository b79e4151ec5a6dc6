"""A sink that keeps nothing: for benchmarks and tests (it counts frames and keeps the last one)."""

from __future__ import annotations

from capture.frame import Frame


class NullSink:
    """Discards frames; `count` says how many came, `last` is the newest."""

    def __init__(self) -> None:
        self.name = "null"
        self.count = 0
        self.last: Frame | None = None
        self.wants_stop = False

    def write(self, frame: Frame) -> None:
        """Count the frame."""
        self.count += 1
        self.last = frame

    def close(self) -> None:
        """Nothing to release."""

    def abort(self) -> None:
        """Nothing to undo: the same as `close`."""
        self.close()

    def describe(self) -> str:
        """ "null"."""
        return "null"
