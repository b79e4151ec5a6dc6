"""A whole monitor through mss (X11 on Linux, GDI on Windows, CoreGraphics on macOS)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from capture.errors import SourceUnavailable
from capture.frame import Frame, Ticker


def why_unavailable() -> str | None:
    """Why screen capture cannot work here, or None when it may."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            return (
                "screen capture needs X11 but this is a Wayland session without DISPLAY: "
                "run the program under XWayland (set DISPLAY) or log in to an X11 session"
            )
        return (
            "screen capture needs an X display but DISPLAY is not set: run it in a desktop "
            "session, or under Xvfb (`Xvfb :99 & DISPLAY=:99 ...`)"
        )
    return None


def list_monitors() -> list[dict]:
    """mss's monitors: [0] is all of them together, [1:] each one ({left, top, width, height})."""
    import mss

    with mss.MSS() as grabber:
        return list(grabber.monitors)


class ScreenSource:
    """Monitor `monitor` (1, 2, ...; 0 is all monitors together) grabbed at up to `fps`; live."""

    def __init__(self, monitor: int = 1, fps: float = 30.0) -> None:
        reason = why_unavailable()
        if reason:
            raise SourceUnavailable(reason)
        import mss.exception

        try:
            monitors = list_monitors()
        except mss.exception.ScreenShotError as e:
            raise SourceUnavailable(
                f"screen capture failed to start ({' '.join(str(e).split())}): "
                "check that DISPLAY points to a running X server"
            ) from e
        if not 0 <= monitor < len(monitors):
            raise SourceUnavailable(
                f"there is no screen {monitor}: this machine has screens 1 to "
                f"{len(monitors) - 1} (0 is all of them together)"
            )
        self.region = monitors[monitor]
        self.name = f"screen:{monitor}"
        self.size = (self.region["width"], self.region["height"])
        self.fps = fps
        self.live = True
        self.has_audio = False
        self.frame_count: int | None = None  # endless
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        import mss

        with mss.MSS() as grabber:  # X11 connections belong to the thread that opens them
            index = 0
            ticker = Ticker(self.fps)
            while not self._closed:
                ticker.wait()
                shot = np.asarray(grabber.grab(self.region))  # [H, W, 4] BGRA
                yield Frame(np.ascontiguousarray(shot[..., 2::-1]), time.monotonic(), index)
                index += 1

    def close(self) -> None:
        """Stop after the current grab."""
        self._closed = True

    def describe(self) -> str:
        """E.g. "screen 1 1920x1080 at 30 fps"."""
        return f"screen {self.name.partition(':')[2]} {self.size[0]}x{self.size[1]} at {self.fps:g} fps"
