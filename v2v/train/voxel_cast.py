"""Terrain casting of the voxel world (raster_voxel.py): the samples along every screen column.

SmoothCast samples the heightfield at depths growing by 2 % per step (bilinear between block
centres); BlockyCast walks the grid of block columns each ray crosses, with exact entry faces.
Both give per-sample tops (for the running-minimum occlusion in raster_voxel) and, for the samples
that show, the attributes a pixel needs to solve for its hit: `attributes(spec, shadow, flat)`.

Shape letters: T frames, W columns, K samples per column.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from v2v.train.voxel import HeightGrid, VoxelSpec, ground_material

if TYPE_CHECKING:
    from v2v.train.voxel_objects import ShadowMap

NEAR = 0.2  # nearest depth drawn, blocks
BAND = 5.0  # terrain object id changes every BAND blocks of height (outline contours)

__all__ = ["SmoothCast", "BlockyCast", "smooth_depths", "NEAR", "BAND"]


@functools.lru_cache(maxsize=4)
def smooth_depths(view: float) -> np.ndarray:
    """Sample depths of smooth mode: 0.25 blocks, then 2 % (+ 0.04 blocks) further each step."""
    s = [0.25]
    while s[-1] < view:
        s.append(s[-1] * 1.02 + 0.04)
    return np.asarray(s[:-1] + [view], np.float64)


def _corners(a: np.ndarray) -> np.ndarray:
    """[nx, nz] grid -> [(nx - 1) * (nz - 1), 4] values at the corners of each cell."""
    return np.stack([a[:-1, :-1], a[1:, :-1], a[:-1, 1:], a[1:, 1:]], axis=-1).reshape(-1, 4)


def _bilinear(corners: np.ndarray, nz: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation at grid coordinates u, v (float32) from _corners(...) (nz: its columns)."""
    i = np.clip(np.floor(u), 0, corners.shape[0] // nz - 1)
    j = np.clip(np.floor(v), 0, nz - 1)
    fu, fv = u - i, v - j
    q = np.take(corners, (i * nz + j).astype(np.int64), axis=0)
    top = q[..., 0] + (q[..., 1] - q[..., 0]) * fu
    return top + (q[..., 2] + (q[..., 3] - q[..., 2]) * fu - top) * fv


def _pack_ints(inst: np.ndarray, face: np.ndarray, mat: np.ndarray) -> np.ndarray:
    return (inst.astype(np.int32) << 8) | (face.astype(np.int32) << 5) | mat.astype(np.int32)


class SmoothCast:
    """Smooth mode: the heightfield sampled at depths S along every column ([T, W, K] arrays)."""

    channels = 6  # per-pixel floats: line slope m and offset c (h = m s + c), depth range, shade
    # at both ends

    def __init__(self, spec: VoxelSpec, grid: HeightGrid, pos: np.ndarray, dxz: np.ndarray, R: float) -> None:
        S = smooth_depths(R).astype(np.float32)  # [K]
        d32 = dxz.astype(np.float32)
        self.u = np.float32(pos[:, 0, None, None] - 0.5 - grid.i0) + S * d32[..., 0:1]  # [T, W, K]
        self.v = np.float32(pos[:, 2, None, None] - 0.5 - grid.j0) + S * d32[..., 1:2]
        self.nz = grid.hg.shape[1] - 1
        self.grid = grid
        ht = _bilinear(_corners(grid.hg[..., 0]), self.nz, self.u, self.v)
        self.hc = np.maximum(ht, np.float32(spec.water_level))
        self.S = S
        self.top_h, self.top_s = self.hc, np.broadcast_to(S, ht.shape)
        self.valid = np.ones(ht.shape, bool)

    def attributes(self, spec: VoxelSpec, shadow: ShadowMap, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel floats [n, 5] and packed ints [n] of the samples `flat` (into [T, W, K])."""
        K = self.S.size
        k = flat % K
        u, v = np.take(self.u, flat), np.take(self.v, flat)
        ht, gx, gz = (_bilinear(_corners(self.grid.hg[..., c]), self.nz, u, v) for c in range(3))
        hc = np.take(self.hc, flat)
        hp = np.take(self.hc, np.where(k > 0, flat - 1, flat))
        s1 = np.take(self.S, k)
        s0 = np.where(k > 0, np.take(self.S, np.maximum(k - 1, 0)), s1 - 1.0)
        m = (hc - hp) / (s1 - s0)
        c = hc - m * s1
        wl = np.float32(spec.water_level)
        water = ht < wl
        lx, ly, lz = spec.light
        shade = np.where(water, ly, (ly - gx * lx - gz * lz) / np.sqrt(1.0 + gx * gx + gz * gz))
        x = u + np.float32(0.5 + self.grid.i0)
        z = v + np.float32(0.5 + self.grid.j0)
        dark = shadow.lookup(x, z)
        shade = np.where(water, shade, shade - (shade + 0.15) * 0.85 * dark)
        mat = ground_material(spec, ht, np.hypot(gx, gz))
        lo = np.where(k == 0, np.float32(0.05), s0)
        floats = np.stack([m, c, lo, s1, shade, shade], axis=-1).astype(np.float32)
        prev = np.flatnonzero(k > 0)
        if prev.size:  # the shade one sample nearer, for a smooth blend between samples
            pf = flat[prev] - 1
            up, vp = np.take(self.u, pf), np.take(self.v, pf)
            hp_, gxp, gzp = (_bilinear(_corners(self.grid.hg[..., c]), self.nz, up, vp) for c in range(3))
            sp = np.where(hp_ < wl, ly, (ly - gxp * lx - gzp * lz) / np.sqrt(1.0 + gxp * gxp + gzp * gzp))
            dp = shadow.lookup(up + np.float32(0.5 + self.grid.i0), vp + np.float32(0.5 + self.grid.j0))
            floats[prev, 5] = np.where(hp_ < wl, sp, sp - (sp + 0.15) * 0.85 * dp)
        return floats, _pack_ints(_terrain_inst(spec, hc, water), np.zeros_like(mat), mat)


class BlockyCast:
    """Blocky mode: every block column each ray crosses, in order ([T, W, K] arrays): entry and
    exit depth, the face it is entered by, its top."""

    channels = 5  # per-pixel floats: entry and exit depth, top, shade of the top and of the face

    def __init__(self, spec: VoxelSpec, grid: HeightGrid, pos: np.ndarray, dxz: np.ndarray, R: float) -> None:
        T, W, _ = dxz.shape
        N = int(math.ceil(R * float(np.abs(dxz).max()))) + 2
        j = np.arange(N, dtype=np.float64)
        crossings = []
        for a, o in ((0, pos[:, 0]), (1, pos[:, 2])):
            d = dxz[..., a]
            d = np.where(np.abs(d) < 1e-9, 1e-9, d)
            base = np.floor(o)[:, None, None]
            line = base + np.where(d > 0, 1.0, 0.0)[..., None] + np.sign(d)[..., None] * j
            crossings.append(((line - o[:, None, None]) / d[..., None]).astype(np.float32))  # [T, W, N]
        sb = np.concatenate(crossings, axis=2)
        order = np.argsort(sb, axis=2)
        sb = np.take_along_axis(sb, order, axis=2)
        axis = (order >= N).astype(np.int8)  # 0: x line, 1: z line
        self.s_in = np.concatenate([np.full((T, W, 1), NEAR, np.float32), sb[..., :-1]], axis=2)
        self.face = np.concatenate([np.full((T, W, 1), 3, np.int8), axis[..., :-1]], axis=2)
        self.s_out = np.minimum(sb, np.float32(R))
        self.valid = self.s_in < R
        mid = (self.s_in + np.minimum(self.s_out, self.s_in + 1.0)) * 0.5
        ci = np.floor(np.float32(pos[:, 0, None, None] - grid.i0) + mid * dxz[..., 0:1].astype(np.float32))
        cj = np.floor(np.float32(pos[:, 2, None, None] - grid.j0) + mid * dxz[..., 1:2].astype(np.float32))
        nx, nz = grid.hg.shape[:2]
        self.cell = (np.clip(ci, 0, nx - 1) * nz + np.clip(cj, 0, nz - 1)).astype(np.int64)
        self.grid = grid
        ht = np.take(grid.hg[..., 0].reshape(-1), self.cell)
        wl = np.float32(spec.water_level)
        land_top = np.maximum(np.floor(ht + 0.5), np.float32(math.floor(spec.water_level) + 1))
        self.hc = np.where(ht < wl, wl, land_top).astype(np.float32)
        self.sgn = -np.sign(dxz).astype(np.float32)  # [T, W, 2] face normals
        self.top_h = self.hc
        self.top_s = np.where(self.hc < pos[:, 1, None, None], self.s_out, self.s_in)

    def attributes(self, spec: VoxelSpec, shadow: ShadowMap, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cell = np.take(self.cell, flat)
        hg = np.take(self.grid.hg.reshape(-1, 3), cell, axis=0)
        ht = hg[:, 0]
        water = ht < np.float32(spec.water_level)
        hc = np.take(self.hc, flat)
        face = np.take(self.face, flat)
        mat = ground_material(spec, ht, np.hypot(hg[:, 1], hg[:, 2]))
        lx, ly, lz = spec.light
        nz = self.grid.hg.shape[1]
        x = (cell // nz + self.grid.i0).astype(np.float32) + 0.5
        z = (cell % nz + self.grid.j0).astype(np.float32) + 0.5
        top_shade = np.where(water, ly, ly - (ly + 0.15) * 0.85 * shadow.lookup(x, z))
        tw = flat // self.hc.shape[2]
        sgn = self.sgn.reshape(-1, 2)[tw]
        front_shade = np.where(face == 0, sgn[:, 0] * lx, sgn[:, 1] * lz)
        floats = np.stack(
            [np.take(self.s_in, flat), np.take(self.s_out, flat), hc, top_shade, front_shade], axis=-1
        ).astype(np.float32)
        return floats, _pack_ints(_terrain_inst(spec, hc, water), face, mat)


def _terrain_inst(spec: VoxelSpec, y: np.ndarray, water: np.ndarray) -> np.ndarray:
    band = np.clip(np.floor((y - spec.base + 0.37) / BAND), -8, 40).astype(np.int32) + 24
    return np.where(water, 9, band)
