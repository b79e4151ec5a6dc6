"""A camera through OpenCV's VideoCapture (V4L2 on Linux, Media Foundation on Windows, AVFoundation
on macOS). Drivers buffer frames, so a thread reads continuously and keeps only the newest one.

A camera that goes away mid-stream (unplugged, or taken by another program) is reopened with back-off
(0.5 s, doubling to 4 s); the stream goes on when it comes back and ends with a message when it has
not come back after 10 s. Each outage prints one line."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from capture.errors import SourceUnavailable
from capture.frame import Frame, resize
from capture.mailbox import Mailbox


@dataclass(frozen=True)
class Reconnect:
    """How a camera that went away mid-stream is reopened."""

    first_s: float = 0.5  # seconds before the first try
    max_s: float = 4.0  # the wait doubles after each failed try, up to this many seconds
    give_up_s: float = 10.0  # seconds without a frame after which the stream ends

    def waits(self) -> Iterator[float]:
        """The waits before each try, in seconds: first_s, doubling up to max_s (endless)."""
        wait = self.first_s
        while True:
            yield wait
            wait = min(wait * 2, self.max_s)


def _open_capture(device: int, size: tuple[int, int] | None, fps: float | None) -> cv2.VideoCapture | None:
    """Camera `device` asked for `size` (W, H) and `fps` (None: the driver's choice), or None when it
    does not open."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our message replaces its warnings
    try:
        capture = cv2.VideoCapture(device)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        return None
    if size is not None:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    if fps is not None:
        capture.set(cv2.CAP_PROP_FPS, fps)
    return capture


def _why_unavailable(device: int) -> str:
    if sys.platform.startswith("linux"):
        return (
            f"camera {device} could not be opened: no readable /dev/video{device} "
            "(check `ls /dev/video*`, that you are in the 'video' group, and that no other "
            "program holds it), or use --input screen, pattern or a file"
        )
    return (
        f"camera {device} could not be opened: check that it is connected, that this program "
        "may use the camera, and that no other program holds it"
    )


class CameraSource:
    """Camera `device` (0, 1, ...): the newest frame each time; live (frames may be dropped).

    size (W, H) and fps: what to ask the driver for (None: its choice); a camera without that mode
    gives its nearest one, and a line says so. `reconnect`: what happens when it goes away.
    """

    def __init__(
        self,
        device: int = 0,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        timeout_s: float = 5.0,
        reconnect: Reconnect = Reconnect(),
    ) -> None:
        self.name = f"camera:{device}"
        self.device = device
        self.live = True
        self.has_audio = False
        self.frame_count: int | None = None  # endless
        self.reconnect = reconnect
        self._asked = (size, fps)
        capture = _open_capture(device, size, fps)
        if capture is None:
            raise SourceUnavailable(_why_unavailable(device))
        self._capture = capture
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or fps or 30.0
        self._newest: Mailbox[np.ndarray] = Mailbox()  # RGB [H, W, 3]; the newest image wins
        self._count = 0  # images read (by the reader thread)
        self._stop = threading.Event()
        self._error: str | None = None  # set before the reader closes the box for good
        self._thread = threading.Thread(target=self._read, name=self.name, daemon=True)
        self._thread.start()
        self._first = self._newest.get(timeout_s)
        if self._first is None:
            self.close()
            raise SourceUnavailable(
                self._error
                or f"camera {device} opened but sent no frame in {timeout_s:g} s: "
                "check that it is not in use by another program"
            )
        self.size = (self._first.shape[1], self._first.shape[0])
        self._report_mode(size, fps)

    def _report_mode(self, size: tuple[int, int] | None, fps: float | None) -> None:
        """One line when the camera did not take the size or frame rate asked for."""
        if size is not None and size != self.size:
            print(
                f"{self.name} gives {self.size[0]}x{self.size[1]}, not the {size[0]}x{size[1]} asked for: "
                "it has no such mode (`v4l2-ctl --list-formats-ext` lists them on Linux)",
                file=sys.stderr,
            )
        if fps is not None and abs(self.fps - fps) > 0.5:
            print(
                f"{self.name} runs at {self.fps:g} fps, not the {fps:g} asked for: it has no such mode "
                f"at {self.size[0]}x{self.size[1]}",
                file=sys.stderr,
            )

    def _publish(self, bgr: np.ndarray) -> None:
        self._newest.put(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        self._count += 1

    def _fail(self, message: str) -> None:
        if not self._stop.is_set():
            self._error = message
        self._newest.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            if ok and bgr is not None:
                self._publish(bgr)
            elif self._stop.is_set():
                return
            elif self._count == 0:  # it never worked: the constructor reports it
                self._fail(f"{self.name} stopped sending frames (unplugged or taken by another program)")
                return
            elif not self._reopen():
                self._fail(
                    f"{self.name} went away and did not come back within {self.reconnect.give_up_s:g} s: "
                    "check its cable and that no other program holds it, then start again"
                )
                return

    def _reopen(self) -> bool:
        """After the camera went away: reopen it with back-off until it gives a frame (True), or until
        `reconnect.give_up_s` passed or the source was closed (False)."""
        policy = self.reconnect
        print(
            f"{self.name} stopped sending frames (unplugged or taken by another program): reconnecting "
            f"for up to {policy.give_up_s:g} s",
            file=sys.stderr,
        )
        self._capture.release()
        deadline = time.monotonic() + policy.give_up_s
        for wait in policy.waits():
            if self._stop.wait(max(0.0, min(wait, deadline - time.monotonic()))):
                return False
            capture = _open_capture(self.device, *self._asked)
            if capture is not None:
                ok, bgr = capture.read()
                self._capture = capture  # released by close(), or by the next outage
                if ok and bgr is not None:
                    self._publish(bgr)
                    return True
                capture.release()
            if time.monotonic() >= deadline:
                return False
        return False

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        first, self._first = self._first, None  # the image the constructor waited for, unless a newer came
        while not self._stop.is_set():
            image = self._newest.get(timeout=0 if first is not None else None)
            image, first = (first if image is None else image), None
            if image is None:  # the reader gave up (the error says why), or close() was called
                if self._error:
                    raise SourceUnavailable(self._error)
                return
            if image.shape[:2] != (self.size[1], self.size[0]):  # it came back in another mode
                image = resize(image, self.size)
            yield Frame(image, time.monotonic(), index)
            index += 1

    def close(self) -> None:
        """Stop the reader thread and release the device."""
        self._stop.set()
        self._newest.cancel()  # wakes an iteration waiting for an image
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._capture.release()

    def describe(self) -> str:
        """E.g. "camera 0 640x480 at 30 fps"."""
        return f"camera {self.device} {self.size[0]}x{self.size[1]} at {self.fps:g} fps"
