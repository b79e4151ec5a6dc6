"""`--input none`: no picture, only time. Text-to-video runs on it: the Generator (capture/generator.py)
ignores the frames' pixels and gives each one a generated frame with its timestamps, so the same
pipeline, pacing, sinks and controls serve restyling and generation."""

from __future__ import annotations

import numpy as np

from capture.sources.pattern import GeneratedSource

GENERATE_FPS = 16.0  # frames per second of generated video by default (the rate Wan2.1's models learn)


class NoneSource(GeneratedSource):
    """Blank (black) frames of `size` (W, H) at `fps`: `frames` of them (None: endless); with `realtime`
    they come at that rate, like a camera (for live sinks), else as fast as they are taken (into files)."""

    def __init__(
        self, size: tuple[int, int], fps: float = GENERATE_FPS, frames: int | None = None, realtime: bool = False
    ) -> None:
        if min(size) < 1:
            raise ValueError(f"the none source needs a size of at least 1x1, got {size[0]}x{size[1]}")
        super().__init__("none", size, fps, frames, realtime)
        self._blank = np.zeros((size[1], size[0], 3), np.uint8)  # [H, W, 3], shared by every frame
        self._blank.flags.writeable = False

    def render(self, index: int) -> np.ndarray:
        return self._blank

    def describe(self) -> str:
        """E.g. "none (text to video) 256x256 at 16 fps"."""
        return f"none (text to video) {self.size[0]}x{self.size[1]} at {self.fps:g} fps"
