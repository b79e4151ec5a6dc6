"""Files as sources: a video file decoded with PyAV (frames with their pts), or a still image repeated.

Both check their file when opened, so that a missing, empty, damaged or foreign file is reported
before anything is written anywhere.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2
import numpy as np

from capture.errors import CaptureError
from capture.frame import Frame
from capture.sources.pattern import GeneratedSource

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def check_input_file(path: str) -> None:
    """Raise CaptureError unless `path` is an existing, non-empty, readable file."""
    if not os.path.exists(path):
        raise CaptureError(f"input {path} does not exist: check the path")
    if not os.path.isfile(path):
        raise CaptureError(f"input {path} is not a file: give a video or image file")
    if os.path.getsize(path) == 0:
        raise CaptureError(f"input {path} is empty (0 bytes): give a video or image file with frames")
    if not os.access(path, os.R_OK):
        raise CaptureError(f"input {path} is not readable: check its permissions")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


class VideoFileSource:
    """Every frame of a video file's first video stream, in order, with its pts.

    `fps` is the stream's average rate, `time_base` its time base; frames carry `pts` (in `time_base`)
    and `t = pts * time_base` seconds. With `realtime` the source sleeps to play at the file's timing.
    """

    def __init__(self, path: str, realtime: bool = False) -> None:
        check_input_file(path)
        self.path = path
        self.name = path
        self.live = realtime
        try:
            self._container = av.open(path)
        except (av.FFmpegError, UnicodeDecodeError) as e:
            raise CaptureError(
                f"{path} is not a video that FFmpeg can read ({_one_line(e)}): "
                "give an .mp4, .mkv, .mov, .webm or .avi file"
            ) from e
        if not self._container.streams.video:
            self._container.close()
            raise CaptureError(f"{path} has no video stream: give a file with video in it")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self.has_audio = bool(self._container.streams.audio)
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        self.fps = float(rate)
        self.rate = Fraction(rate)
        self.time_base = self._stream.time_base or Fraction(1, 90000)
        self._decoded = self._decode()
        self._first = next(self._decoded, None)
        if self._first is None:
            self._container.close()
            raise CaptureError(
                f"{path} has no decodable video frames (empty or damaged): re-export it or give another file"
            )
        self.size = self._first.size

    @property
    def frame_count(self) -> int | None:
        """How many frames the container says it has (an estimate from the duration when it does
        not say), or None when unknown."""
        if self._stream.frames:
            return int(self._stream.frames)
        duration = self._stream.duration
        if duration is not None:
            return max(1, round(float(duration * self.time_base) * self.fps))
        if self._container.duration is not None:
            return max(1, round(self._container.duration / av.time_base * self.fps))
        return None

    def _decode(self) -> Iterator[Frame]:
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                pts = frame.pts if frame.pts is not None else round(index / (self.rate * self.time_base))
                image = frame.to_ndarray(format="rgb24")
                yield Frame(np.ascontiguousarray(image), float(pts * self.time_base), index, pts)
                index += 1
        except av.FFmpegError as e:
            raise CaptureError(
                f"{self.path} is damaged after frame {index} ({_one_line(e)}): re-export it or give another file"
            ) from e

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise CaptureError(f"{self.path} can be read only once")
        first, self._first = self._first, None
        start = time.monotonic() - first.t
        for frame in itertools.chain([first], self._decoded):
            if self.live:
                delay = start + frame.t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def close(self) -> None:
        """Close the file."""
        self._container.close()

    def describe(self) -> str:
        """E.g. "file clip.mp4 640x360 at 24 fps"."""
        return f"file {os.path.basename(self.path)} {self.size[0]}x{self.size[1]} at {self.fps:g} fps"


class ImageSource(GeneratedSource):
    """A still image as a video: the same frame `frames` times (None: endless) at `fps`."""

    def __init__(self, path: str, frames: int | None = None, fps: float = 30.0, realtime: bool = False) -> None:
        check_input_file(path)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise CaptureError(
                f"{path} is not an image that OpenCV can read: give a .png, .jpg, .bmp, .webp or .tiff file"
            )
        self.image = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        self.path = path
        super().__init__(path, (self.image.shape[1], self.image.shape[0]), fps, frames, realtime)

    def render(self, index: int) -> np.ndarray:
        return self.image

    def describe(self) -> str:
        """E.g. "image photo.png 640x480 at 30 fps"."""
        return f"image {os.path.basename(self.path)} {self.size[0]}x{self.size[1]} at {self.fps:g} fps"
