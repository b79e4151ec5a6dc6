"""Frames at the edges, and their way into the engine and back at a working size.

At the edges (sources, sinks) a frame is `uint8` RGB numpy `[H, W, 3]`. The engine takes
`float32 [T, 3, H, W]` in [-1, 1] at a *working size*; v2v/pixels.py converts between the two layouts,
this module resizes.

Working size. A model is trained at one size (its `bundle.size`), but inputs come in every aspect
(16:9 games, 4:3 cameras, portrait phone clips). We never letterbox (the model would restyle the black
bars) and never centre-crop (the output would lose the edges). Instead the working size adapts to the
input: it keeps the input's aspect and about the model's pixel count, rounded to multiples of 16
(the VAE's 8x downsampling times the DiT's 2x2 patches). See `fit_size`. Rounding stretches the image
inside the model by at most half a 16-pixel step (under 2% at 512x320); `tensor_to_frames` resizes back
to the input's size, so the output is not distorted at all.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from v2v.pixels import to_float, to_uint8

SIZE_MULTIPLE = 16  # VAE spatial factor (8) x DiT patch (2)


@dataclass(frozen=True)
class Frame:
    """One picture at the edges of the pipeline."""

    image: np.ndarray  # uint8 [H, W, 3] RGB, C-contiguous
    t: float  # capture time in seconds: a monotonic clock for live sources, pts * time_base for files
    index: int  # sequence number from 0 in the order the source produced it
    pts: int | None = None  # presentation timestamp in the source stream's time_base (files only)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) in pixels."""
        return self.image.shape[1], self.image.shape[0]


def check_image(image: np.ndarray) -> None:
    """Assert the edge layout: uint8 [H, W, 3]."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = f"{type(image).__name__} {getattr(image, 'dtype', '?')} {getattr(image, 'shape', '?')}"
        raise ValueError(f"expected a uint8 RGB image [H, W, 3], got {got}")


def fit_size(in_size: tuple[int, int], budget: tuple[int, int], multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """The working size (W, H) for an input of `in_size` (W, H): the input's aspect, about the pixel
    count of `budget` (W, H), both sides multiples of `multiple` and at least `multiple`.

    1920x1080 with a 512x320 budget gives 544x304; 480x640 (portrait) gives 352x464.
    """
    (w, h), (bw, bh) = in_size, budget
    if min(w, h, bw, bh) <= 0:
        raise ValueError(f"sizes must be positive, got input {in_size} and budget {budget}")
    fw = math.sqrt(bw * bh * w / h)
    fh = bw * bh / fw
    return (max(multiple, round(fw / multiple) * multiple), max(multiple, round(fh / multiple) * multiple))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 [H, W, 3] image to `size` (W, H): area averaging when shrinking (no aliasing),
    bilinear when enlarging (INTER_AREA's enlargement is blocky)."""
    w, h = size
    if image.shape[1] == w and image.shape[0] == h:
        return image
    shrinking = w * h < image.shape[0] * image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def frames_to_tensor(images: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """uint8 RGB images [H, W, 3] (any sizes) -> the engine's float32 [T, 3, h, w] in [-1, 1] at `size` (w, h)."""
    if not images:
        raise ValueError("frames_to_tensor needs at least one image")
    for image in images:
        check_image(image)
    return to_float(np.stack([resize(image, size) for image in images]))  # [T, h, w, 3] -> [T, 3, h, w]


def tensor_to_frames(x: torch.Tensor, out_size: tuple[int, int]) -> list[np.ndarray]:
    """The engine's float [T, 3, h, w] in [-1, 1] (values outside are clamped) -> T uint8 RGB images [H, W, 3]
    resized to `out_size` (W, H)."""
    return [np.ascontiguousarray(resize(image, out_size)) for image in to_uint8(x)]  # [T, h, w, 3] each resized


class Ticker:
    """Paces a loop to `fps` calls a second: `wait()` sleeps until the next tick; a late call moves the
    schedule on instead of bursting to catch up."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._next = time.monotonic()

    def wait(self) -> None:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self.period, time.monotonic())
