"""The pixel layouts and the one pair of converters between them.

Outside the model (capture, sinks, files, the metrics' inputs): uint8 RGB numpy frames [T, H, W, 3].
Inside: float32 in [-1, 1], as the engine's frames [T, 3, H, W] (`StreamEngine.push` takes and returns
these) or as the models' video [B, 3, T, H, W], which is `frames.transpose(0, 1)[None]` (and back:
`video[0].transpose(0, 1)`). Resizing to a working size is the caller's (capture/frame.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_float(frames: np.ndarray) -> Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, H, W] in [-1, 1] (a new tensor; `frames` is not kept)."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"expected uint8 RGB frames [T, H, W, 3], got {got}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # [T, 3, H, W]
    return x.div_(127.5).sub_(1.0)


def to_uint8(frames: Tensor) -> np.ndarray:
    """float [T, 3, H, W] in [-1, 1] (values outside are clamped; any device and dtype) -> uint8 [T, H, W, 3],
    each value rounded to the nearest level."""
    if not isinstance(frames, Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
        got = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
        raise ValueError(f"expected float frames [T, 3, H, W] in [-1, 1], got {got}")
    levels = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # [T, 3, H, W]
    return np.ascontiguousarray(levels.permute(0, 2, 3, 1).cpu().numpy())  # [T, H, W, 3]
