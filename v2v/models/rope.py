"""3-D rotary position embedding (RoPE) as in Wan2.1, with a time offset for streaming.

Shape letters: B batch, F latent frames, h/w token grid, L tokens (F·h·w), N heads, D head dim,
c = D/2 rotation pairs.

Wan2.1 splits the c pairs of a head into [c − 2·(c//3), c//3, c//3] for (time, height, width);
each axis has its own frequency set 1/θ^(2i/d_axis) with θ = 10000 and a table of `max_position`
positions. Pairs are adjacent channels (2i, 2i+1), rotated as the complex number x_2i + i·x_2i+1.
The reference multiplies complex float64 tables; here the tables are computed in float64 once and
kept as float32 cos/sin, which agrees with it to ~1e-7 and keeps float64 out of the hot path.
"""

from __future__ import annotations

import torch
from torch import Tensor

THETA = 10000.0


def axis_pairs(head_dim: int) -> tuple[int, int, int]:
    """Rotation pairs given to (time, height, width) for a head of `head_dim` channels."""
    assert head_dim % 2 == 0, f"RoPE needs an even head dim, got {head_dim}"
    c = head_dim // 2
    return c - 2 * (c // 3), c // 3, c // 3


def _angles(max_position: int, pairs: int) -> Tensor:
    """Angles [max_position, pairs] in float64 for one axis with `pairs` rotation pairs."""
    d = 2 * pairs
    inv_freq = 1.0 / THETA ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    return torch.outer(torch.arange(max_position, dtype=torch.float64), inv_freq)


class Rope3D:
    """Cos/sin tables for Wan2.1's 3-D RoPE; not an nn.Module, so state dicts stay checkpoint-exact.

    Tables live on the CPU and are copied once per (device, dtype) they are asked for.
    """

    def __init__(self, head_dim: int, max_position: int = 1024) -> None:
        self.head_dim = head_dim
        self.max_position = max_position
        self.pairs = axis_pairs(head_dim)
        self._angles = [_angles(max_position, p) for p in self.pairs]
        self._tables: dict[tuple[torch.device, torch.dtype], list[tuple[Tensor, Tensor]]] = {}

    def _axis_tables(self, device: torch.device, dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
        key = (device, dtype)
        if key not in self._tables:
            self._tables[key] = [(a.cos().to(device, dtype), a.sin().to(device, dtype)) for a in self._angles]
        return self._tables[key]

    def tables(
        self, frames: int, height: int, width: int, start: int, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor]:
        """cos, sin [L, 1, c] for a grid of frames × height × width tokens, time from `start`."""
        assert start >= 0 and start + frames <= self.max_position, (
            f"time positions {start}..{start + frames - 1} exceed the RoPE table of {self.max_position}"
        )
        assert height <= self.max_position and width <= self.max_position, (
            f"token grid {height}x{width} exceeds the RoPE table of {self.max_position}"
        )
        out = []
        for part in (0, 1):  # 0: cos, 1: sin
            (t, h, w) = (tab[part] for tab in self._axis_tables(device, dtype))
            pt, ph, pw = self.pairs
            grid = torch.cat(
                [
                    t[start : start + frames, None, None, :].expand(frames, height, width, pt),
                    h[None, :height, None, :].expand(frames, height, width, ph),
                    w[None, None, :width, :].expand(frames, height, width, pw),
                ],
                dim=-1,
            )  # [F, h, w, c]
            out.append(grid.reshape(frames * height * width, 1, -1))  # [L, 1, c]
        return out[0], out[1]

    def rotate_time(self, x: Tensor, delta: int) -> Tensor:
        """Rotate the time pairs of keys x [..., N, D] by `delta` positions (may be negative).

        Used to re-base cached keys: RoPE(p) followed by rotate_time(−Δ) equals RoPE(p − Δ).
        """
        assert abs(delta) < self.max_position, f"|delta| {delta} exceeds the RoPE table"
        (cos_t, sin_t) = self._axis_tables(x.device, torch.float32)[0]
        cos = cos_t[abs(delta)]  # [pt]
        sin = sin_t[abs(delta)] * (1.0 if delta >= 0 else -1.0)  # [pt]
        pt = self.pairs[0]
        pairs = x.float().unflatten(-1, (-1, 2))  # [..., N, c, 2]
        time = pairs[..., :pt, :]  # [..., N, pt, 2]
        rotated = torch.stack(
            [time[..., 0] * cos - time[..., 1] * sin, time[..., 0] * sin + time[..., 1] * cos], dim=-1
        )  # [..., N, pt, 2]
        out = torch.cat([rotated, pairs[..., pt:, :]], dim=-2)  # [..., N, c, 2]
        return out.flatten(-2).to(x.dtype)  # [..., N, D]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x [B, L, N, D] by the tables cos, sin [L, 1, c] (c = D/2); computed in float32."""
    assert x.dim() == 4 and x.shape[1] == cos.shape[0] and x.shape[-1] == 2 * cos.shape[-1], (
        f"apply_rope: x {tuple(x.shape)} does not match tables {tuple(cos.shape)}"
    )
    pairs = x.float().unflatten(-1, (-1, 2))  # [B, L, N, c, 2]
    a, b = pairs[..., 0], pairs[..., 1]  # [B, L, N, c]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)  # [B, L, N, c, 2]
    return out.flatten(-2).to(x.dtype)  # [B, L, N, D]
