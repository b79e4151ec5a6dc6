"""A moving synthetic test pattern with known content: every test and `bench` can be deterministic.

Frame i: a colour gradient (red grows to the right, green grows downwards, blue fixed at 64), a
white square of side H/4 whose left edge is at `pattern_square_x(i, size)`, top edge at H/2 - H/8, and a
black bar along the bottom whose length encodes i (one pixel per frame, modulo W), and i as a
machine-readable code in the top-left corner (`capture.counter`; drawn when the frame is large enough,
e.g. 64x48 and up) from which `counter_latency` measures glass-to-glass latency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from capture.counter import counter_fits, encode_counter
from capture.frame import Frame

SQUARE_STEP = 4  # pixels per frame the square moves right


def pattern_square_x(index: int, size: tuple[int, int]) -> int:
    """Left edge of the white square in frame `index` of a `size` (W, H) pattern."""
    w, h = size
    side = max(1, h // 4)
    return (index * SQUARE_STEP) % max(1, w - side)


def pattern_image(index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `index` of the pattern: uint8 RGB [H, W, 3], a pure function of (index, size)."""
    w, h = size
    image = np.empty((h, w, 3), np.uint8)
    image[..., 0] = np.linspace(0, 255, w, dtype=np.float32).astype(np.uint8)[None, :]
    image[..., 1] = np.linspace(0, 255, h, dtype=np.float32).astype(np.uint8)[:, None]
    image[..., 2] = 64
    side = max(1, h // 4)
    x, y = pattern_square_x(index, size), h // 2 - side // 2
    image[y : y + side, x : x + side] = 255
    bar = max(1, h // 32)
    image[h - bar :, : index % w] = 0
    if counter_fits(size):
        encode_counter(image, index)
    return image


class GeneratedSource:
    """A source whose frames are computed from their index: `frames` frames (None: endless) at `fps`;
    with `realtime` it sleeps so frames come at that rate, like a camera. Subclasses give `render`."""

    def __init__(self, name: str, size: tuple[int, int], fps: float, frames: int | None, realtime: bool) -> None:
        self.name = name
        self.size = size
        self.fps = fps
        self.frames = frames
        self.live = realtime
        self.has_audio = False
        self.start_time: float | None = None  # time.monotonic() when iteration began: frame i is made at
        # start_time + i / fps when realtime (what `capture.counter.counter_latency` measures from)

    def render(self, index: int) -> np.ndarray:
        """Frame `index`: uint8 RGB [H, W, 3]."""
        raise NotImplementedError

    @property
    def frame_count(self) -> int | None:
        """`frames`, or None when endless."""
        return self.frames

    def __iter__(self) -> Iterator[Frame]:
        start = self.start_time = time.monotonic()
        index = 0
        while self.frames is None or index < self.frames:
            t = index / self.fps
            if self.live:
                delay = start + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield Frame(self.render(index), t, index)
            index += 1

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        """E.g. "a.png 640x360 at 30 fps"."""
        return f"{self.name} {self.size[0]}x{self.size[1]} at {self.fps:g} fps"


class PatternSource(GeneratedSource):
    """The test pattern as a source: `frames` frames (None: endless) at `fps`; with `realtime` it
    sleeps so frames come at that rate, like a camera."""

    def __init__(
        self, size: tuple[int, int] = (640, 360), fps: float = 30.0, frames: int | None = None, realtime: bool = False
    ) -> None:
        if min(size) < 16:
            raise ValueError(f"the pattern needs at least 16x16 pixels, got {size[0]}x{size[1]}")
        super().__init__(f"pattern:{size[0]}x{size[1]}", size, fps, frames, realtime)

    def render(self, index: int) -> np.ndarray:
        return pattern_image(index, self.size)

    def describe(self) -> str:
        """E.g. "pattern 640x360 at 30 fps"."""
        return f"pattern {self.size[0]}x{self.size[1]} at {self.fps:g} fps"
