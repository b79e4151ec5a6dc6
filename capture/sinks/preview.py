"""A preview window through OpenCV's HighGUI (`cv2.imshow`). Q or Esc in the window stops the run."""

from __future__ import annotations

import os
import sys

import cv2

from capture.errors import SinkUnavailable
from capture.frame import Frame

WINDOW = "v2v preview (q to quit)"


def why_unavailable() -> str | None:
    """Why a preview window cannot open here, or None when it may."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return (
            "the preview window needs a display but DISPLAY is not set: run it in a desktop "
            "session, or use --output vcam, null or a video file"
        )
    build = cv2.getBuildInformation()
    gui = build.split("GUI:", 1)[1].split("\n", 1)[0].strip() if "GUI:" in build else ""
    if gui.upper() == "NONE":
        return (
            "the preview window needs OpenCV with a GUI, but this is opencv-python-headless: "
            "`pip uninstall opencv-python-headless && pip install opencv-python`, or use "
            "--output vcam, null or a video file"
        )
    return None


class PreviewSink:
    """Shows each frame in a window; sets `wants_stop` when the user presses Q or Esc."""

    def __init__(self) -> None:
        reason = why_unavailable()
        if reason:
            raise SinkUnavailable(reason)
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise SinkUnavailable(
                f"the preview window could not open ({' '.join(str(e).split())}): "
                "use --output vcam, null or a video file"
            ) from e
        self.name = "preview"
        self.count = 0
        self.wants_stop = False

    def write(self, frame: Frame) -> None:
        """Show the frame and poll the keyboard."""
        cv2.imshow(WINDOW, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        self.count += 1
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.wants_stop = True

    def close(self) -> None:
        """Close the window."""
        cv2.destroyWindow(WINDOW)
        cv2.waitKey(1)

    def abort(self) -> None:
        """Nothing to undo: the same as `close`."""
        self.close()

    def describe(self) -> str:
        """ "preview window"."""
        return "preview window"
