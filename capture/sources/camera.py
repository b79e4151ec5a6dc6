"""A camera through OpenCV's VideoCapture (V4L2 on Linux, Media Foundation on Windows, AVFoundation
on macOS). Drivers buffer frames, so a thread reads continuously and keeps only the newest one."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np

from capture.errors import SourceUnavailable
from capture.frame import Frame


def _why_unavailable(device: int) -> str:
    if sys.platform.startswith("linux"):
        return (f"camera {device} could not be opened: no readable /dev/video{device} "
                "(check `ls /dev/video*`, that you are in the 'video' group, and that no other "
                "program holds it), or use --input screen, pattern or a file")
    return (f"camera {device} could not be opened: check that it is connected, that this program "
            "may use the camera, and that no other program holds it")


class CameraSource:
    """Camera `device` (0, 1, ...): the newest frame each time; live (frames may be dropped)."""

    def __init__(self, device: int = 0, timeout_s: float = 5.0) -> None:
        self.name = f"camera:{device}"
        self.live = True
        self.has_audio = False
        self.frame_count: int | None = None  # endless
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our message replaces its warnings
        try:
            self._capture = cv2.VideoCapture(device)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceUnavailable(_why_unavailable(device))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 30.0
        self._newest: np.ndarray | None = None
        self._count = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._read, name=self.name, daemon=True)
        self._thread.start()
        with self._cond:
            if not self._cond.wait_for(lambda: self._newest is not None or self._error, timeout_s):
                self.close()
                raise SourceUnavailable(f"camera {device} opened but sent no frame in {timeout_s:g} s: "
                                        "check that it is not in use by another program")
        if self._error:
            self.close()
            raise SourceUnavailable(self._error)
        self.size = (self._newest.shape[1], self._newest.shape[0])

    def _read(self) -> None:
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            with self._cond:
                if not ok:
                    self._error = f"{self.name} stopped sending frames (unplugged or taken by another program)"
                    self._cond.notify_all()
                    return
                self._newest = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self._count += 1
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        seen, index = 0, 0
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._count > seen or self._error or self._stop.is_set())
                if self._error:
                    raise SourceUnavailable(self._error)
                if self._stop.is_set():
                    return
                image, seen = self._newest, self._count
            yield Frame(image, time.monotonic(), index)
            index += 1

    def close(self) -> None:
        """Stop the reader thread and release the device."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._capture.release()
