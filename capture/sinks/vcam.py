"""A virtual camera through pyvirtualcam: v4l2loopback on Linux, the OBS virtual camera on Windows and
macOS, Unity Capture on Windows. Other programs (OBS, a browser, a video call) see it as a webcam."""

from __future__ import annotations

import sys

from capture.errors import SinkUnavailable
from capture.frame import Frame, resize


def how_to_fix() -> str:
    """What makes a virtual camera device appear on this operating system."""
    if sys.platform.startswith("linux"):
        return (
            "load v4l2loopback: `sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
            "card_label=v2v` (package v4l2loopback-dkms)"
        )
    if sys.platform == "darwin":
        return "install OBS Studio 30+ and start its virtual camera once (macOS 13+)"
    return "install OBS Studio and start its virtual camera once, or install Unity Capture"


def why_unavailable(error: BaseException) -> str:
    """pyvirtualcam's per-backend errors, one line, with the fix."""
    reasons = "; ".join(line.strip().rstrip(".") for line in str(error).splitlines() if line.strip())
    return (
        f"no virtual camera: {reasons or 'no backend for this platform'}. To fix: {how_to_fix()}; "
        "or use --output preview, null or a video file"
    )


class VirtualCameraSink:
    """Sends RGB frames of `size` (W, H) to a virtual camera; `backend` and `device` as pyvirtualcam's
    (None: the first that works)."""

    def __init__(
        self, size: tuple[int, int], fps: float, backend: str | None = None, device: str | None = None
    ) -> None:
        import pyvirtualcam

        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise SinkUnavailable(
                f"no virtual camera backend {backend!r} here (known: {known}). To fix: {how_to_fix()}"
            )
        if not pyvirtualcam.camera.BACKENDS:
            raise SinkUnavailable(why_unavailable(RuntimeError("")))
        try:
            self._camera = pyvirtualcam.Camera(
                size[0], size[1], fps, fmt=pyvirtualcam.PixelFormat.RGB, backend=backend, device=device
            )
        except RuntimeError as e:
            raise SinkUnavailable(why_unavailable(e)) from e
        self.size = size
        self.name = f"vcam:{self._camera.device}"
        self.backend = self._camera.backend
        self.count = 0
        self.wants_stop = False

    def write(self, frame: Frame) -> None:
        """Send one frame (resized to the camera's size when it differs)."""
        self._camera.send(resize(frame.image, self.size))
        self.count += 1

    def close(self) -> None:
        """Release the device."""
        self._camera.close()

    def abort(self) -> None:
        """Nothing to undo: the same as `close`."""
        self.close()

    def describe(self) -> str:
        """E.g. "virtual camera /dev/video2 (v4l2loopback) 640x360"."""
        return f"virtual camera {self._camera.device} ({self.backend}) {self.size[0]}x{self.size[1]}"
