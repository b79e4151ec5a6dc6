"""Rasterise a SceneSpec into a GBuffer: which material and object is in front at each pixel, and
how it is lit. Vectorised over frames and pixels; shapes are written far to near (painter's order).

See scenes.py for the coordinate conventions. Shape letters: T frames, H/W pixels. Arrays named
`u*` are columns [T, 1, W], `v*` are rows [T, H, 1]; their combinations broadcast to [T, H, W].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from v2v.train.scenes import (
    BIRD,
    BIRD_DEPTH,
    BOAT,
    CLOUD,
    CLOUD_DEPTH,
    COW,
    DARK,
    DIRT,
    DOOR,
    GRASS,
    HORSE,
    LEAVES,
    PIG,
    PINE,
    ROCK,
    ROOF,
    SAIL,
    SKY_DEPTH,
    SNOW,
    SUN,
    TRUNK,
    WALL,
    WATER,
    WATER_DEPTH,
    WINDOW,
    WINDOW_LIT,
    WOOL,
    GBuffer,
    LayerSpec,
    MoverSpec,
    SceneSpec,
    camera_path,
    hash01,
    height,
)

_SUN_RADIUS = 0.055  # units of H
_SUN_BLOCK = 0.03  # blocky voxel of the sky (sun, birds), units of H
_CLOUD_CELL = 10.0  # world units at CLOUD_DEPTH
_ANIMAL_DIMS = {  # body half-length, body half-height, leg length, head radius (world)
    "sheep": (0.045, 0.03, 0.022, 0.017, WOOL, DARK, DARK),
    "pig": (0.04, 0.025, 0.015, 0.018, PIG, PIG, PIG),
    "cow": (0.06, 0.034, 0.03, 0.021, COW, COW, COW),
    "horse": (0.058, 0.028, 0.045, 0.019, HORSE, HORSE, DARK),
}


def _quant(x: np.ndarray, b: float | None) -> np.ndarray:
    return x if b is None else (np.floor(x / b) + 0.5) * b


class _Canvas:
    """Painter's-algorithm writer into a GBuffer, restricted to a band of rows per call."""

    def __init__(self, g: GBuffer) -> None:
        self.g = g

    def paint(
        self,
        rows: slice,
        mask: np.ndarray,
        mat: ArrayLike,
        inst: ArrayLike,
        depth: ArrayLike,
        shade: ArrayLike,
        tu: ArrayLike,
        tv: ArrayLike,
    ) -> None:
        """Write the values (arrays over the band's [T, rows, W], or scalars) where `mask` is set."""
        g = self.g
        for dst, val in ((g.mat, mat), (g.inst, inst), (g.depth, depth), (g.shade, shade), (g.tu, tu), (g.tv, tv)):
            np.copyto(dst[:, rows], val, where=mask, casting="unsafe")


def _row_band(v: np.ndarray, lo: float, hi: float) -> slice:
    """Rows (axis 1 of v [T, H, 1], v decreasing down the frame) where any frame has lo <= v < hi."""
    inside = np.any((v >= lo) & (v < hi), axis=(0, 2))
    idx = np.flatnonzero(inside)
    return slice(0, 0) if idx.size == 0 else slice(int(idx[0]), int(idx[-1]) + 1)


@dataclass
class _View:
    """Per-frame camera and screen coordinates shared by all layers."""

    t: np.ndarray  # [T] frame times
    cx: np.ndarray  # [T] camera x
    ch: np.ndarray  # [T] camera height
    sxp: np.ndarray  # [T, 1, W] screen x / zoom
    syp: np.ndarray  # [T, H, 1] screen y / zoom
    horizon: float
    blocky: bool

    def layer(self, depth: float, block: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Layer coordinates u [T,1,W], v [T,H,1] and their (blocky) quantised versions."""
        u = self.cx[:, None, None] + self.sxp * depth
        v = self.ch[:, None, None] + (self.horizon - self.syp) * depth
        b = block if self.blocky else None
        return u, v, _quant(u, b), _quant(v, b)

    def tex(self, u: np.ndarray, v: np.ndarray, depth: float, block: float) -> tuple[np.ndarray, np.ndarray]:
        return (u / block, v / block) if self.blocky else (u / depth, v / depth)


def rasterize(scene: SceneSpec, start: int, frames: int, size: tuple[int, int], blocky: bool) -> GBuffer:
    """G-buffer of frames start .. start+frames-1 at size (W, H); blocky quantises to voxels."""
    W, H = size
    T = frames
    t = np.arange(start, start + frames, dtype=np.float64)
    cam = scene.camera
    cx, zoom, ch = camera_path(cam, t)
    sx = (np.arange(W) + 0.5 - W / 2) / H
    sy = (np.arange(H) + 0.5 - H / 2) / H
    view = _View(
        t, cx, ch, sx[None, None, :] / zoom[:, None, None], sy[None, :, None] / zoom[:, None, None], cam.horizon, blocky
    )
    elev = (cam.horizon - view.syp).astype(np.float32)  # [T, H, 1]
    sun_px = np.stack(
        [
            scene.sun_x * zoom * H + W / 2 - 0.5,
            (cam.horizon - scene.sun_elev) * zoom * H + H / 2 - 0.5,
            _SUN_RADIUS * zoom * H,
        ],
        axis=1,
    ).astype(np.float32)
    water_row = np.full(T, np.nan, np.float32)
    if scene.water:
        water_row[:] = (cam.horizon + ch / WATER_DEPTH) * zoom * H + H / 2 - 0.5
    g = GBuffer(
        mat=np.zeros((T, H, W), np.uint8),
        inst=np.zeros((T, H, W), np.int32),
        depth=np.full((T, H, W), SKY_DEPTH, np.float32),
        shade=np.empty((T, H, W), np.float32),
        tu=np.empty((T, H, W), np.float32),
        tv=np.empty((T, H, W), np.float32),
        elev=elev,
        sun=sun_px,
        water_row=water_row,
        t=t,
        blocky=blocky,
    )
    g.shade[...] = scene.light[1]
    g.tu[...] = view.sxp * 8.0
    g.tv[...] = view.syp * 8.0
    c = _Canvas(g)

    _sun(c, scene, view)
    _clouds(c, scene, view)
    movers = [(i, m) for i, m in enumerate(scene.movers)]
    for li, layer in enumerate(scene.layers):
        if layer.name == "mid" and scene.water:
            _water(c, scene, view, movers)
        _terrain(c, scene, view, li, layer, movers)
        if layer.name == "far":
            for i, m in movers:
                if m.host == "sky":
                    _bird(c, scene, view, i, m)
    return g


def _sun(c: _Canvas, scene: SceneSpec, view: _View) -> None:
    b = _SUN_BLOCK if view.blocky else None
    x = _quant(view.sxp, b) - scene.sun_x
    y = _quant(view.syp, b) - (view.horizon - scene.sun_elev)
    rows = _row_band(-np.abs(y), -_SUN_RADIUS, 1.0)
    y = y[:, rows]
    if view.blocky:  # a square sun, as in Minecraft
        mask = (np.abs(x) < 0.8 * _SUN_RADIUS) & (np.abs(y) < 0.8 * _SUN_RADIUS)
    else:
        mask = x * x + y * y < _SUN_RADIUS**2
    c.paint(rows, mask, SUN, 1, SKY_DEPTH * 0.9, 1.0, x / _SUN_RADIUS, y / _SUN_RADIUS)


def _clouds(c: _Canvas, scene: SceneSpec, view: _View) -> None:
    d = CLOUD_DEPTH
    u, v, uq, vq = view.layer(d, 0.03 * d)
    drift = scene.cloud_speed * view.t[:, None, None]
    u, uq = u + drift, uq + drift
    k = np.floor(uq / _CLOUD_CELL)
    r = [hash01(scene.seed, 900 + j, k) for j in range(5)]
    has = r[0] < scene.cloud_p
    if not has.any():
        return
    uc = (k + 0.5) * _CLOUD_CELL + (r[1] - 0.5) * 1.5
    vc = view.ch[:, None, None] + (0.1 + 0.25 * r[2]) * d
    rx = 1.5 + 1.3 * r[3]
    ry = rx * (0.35 + 0.15 * r[4])
    rows = _row_band(vq, view.ch.min() + 0.1 * d - 3.0, view.ch.max() + 0.35 * d + 3.0)
    vq, v = vq[:, rows], v[:, rows]
    tu, tv = view.tex(u, v, d, 0.03 * d)
    best: np.ndarray | float = np.inf  # the nearest of the three puffs, in units of its radius squared
    for ox, oy, s in ((0.0, 0.0, 1.0), (-0.6, -0.3, 0.65), (0.6, -0.25, 0.7)):
        dx = (uq - (uc + ox * rx)) / (rx * s)
        dy = (vq - (vc + oy * ry)) / (ry * s)
        r2 = dx * dx + dy * dy
        best = np.minimum(best, r2)
    dy = (vq - vc) / ry
    mask = has & (best < 1.0)
    c.paint(rows, mask, CLOUD, 2, d, np.clip(0.4 + 0.5 * dy, -1, 1), tu, tv)


def _terrain(
    c: _Canvas, scene: SceneSpec, view: _View, li: int, layer: LayerSpec, movers: list[tuple[int, MoverSpec]]
) -> None:
    d, b = layer.depth, layer.block
    u, v, uq, vq = view.layer(d, b)
    h = height(layer, uq)  # [T, 1, W]
    eps = 0.01 * d
    slope = (height(layer, uq + eps) - height(layer, uq - eps)) / (2 * eps)
    lx, ly, lz = scene.light
    face = (-slope * lx + ly) / np.sqrt(1.0 + slope * slope)
    rows = _row_band(vq, -np.inf, float(h.max()))
    vr = vq[:, rows]
    mask = vr < h
    # Hill faces take the slope's light near the ridge line; farther down it is flat ground.
    w = np.clip((h - vr) / (0.12 * d), 0.0, 1.0)
    shade = face + (ly - face) * w
    tu, tv = view.tex(u, v[:, rows], d, b)
    mat: ArrayLike = layer.ground
    if layer.name == "mountains":
        snowline = layer.base + 1.6
        mat = np.where((vr > snowline) | (h - vr < 0.05 * d) & (h > snowline + 0.3), SNOW, ROCK)
    elif view.blocky and layer.ground in (GRASS, SNOW):
        below = h - vr
        mat = np.where((below > b) & (below < 3 * b), DIRT, layer.ground)
    c.paint(rows, mask, mat, 10 + li, d, shade, tu, tv)
    if layer.tree_p + layer.house_p > 0:
        _objects(c, scene, view, li, layer, u, v, uq, vq)
    for i, m in movers:
        if m.host == layer.name:
            _animal(c, scene, view, i, m, layer, u, v, uq, vq)


def _objects(
    c: _Canvas,
    scene: SceneSpec,
    view: _View,
    li: int,
    layer: LayerSpec,
    u: np.ndarray,
    v: np.ndarray,
    uq: np.ndarray,
    vq: np.ndarray,
) -> None:
    cw, s, d = layer.cell, layer.scale, layer.depth
    lx, ly, lz = scene.light
    k = np.floor(uq / cw)  # [T, 1, W] object cell
    r = [hash01(scene.seed, li * 16 + j, k) for j in range(8)]
    tree = r[0] < layer.tree_p
    house = (r[0] >= layer.tree_p) & (r[0] < layer.tree_p + layer.house_p)
    if not (tree.any() or house.any()):
        return
    uc = (k + 0.3 + 0.4 * r[1]) * cw
    hb = height(layer, uc)
    rows = _row_band(vq, float(hb.min()) - 0.05 * s, float(hb.max()) + 0.5 * s)
    vr = vq[:, rows]
    tu, tv = view.tex(u, v[:, rows], d, layer.block)
    du = uq - uc
    adu = np.abs(du)
    oid = ((li + 1) << 24) + ((k.astype(np.int64) & 0xFFFFF) << 3)

    th = s * (0.06 + 0.07 * r[3])
    tw = s * (0.01 + 0.006 * r[4])
    crx = s * (0.055 + 0.05 * r[5])
    cry = crx * (0.9 + 0.4 * r[6])
    pine = tree & (r[2] < layer.pine_p)
    rnd = tree & ~pine
    top = hb + th + np.where(pine, 0.0, 0.5 * cry)
    trunk = tree & (adu < tw) & (vr > hb - 0.03 * s) & (vr < top)
    c.paint(rows, trunk, TRUNK, oid + 1, d, np.clip(du / tw, -1, 1) * lx * 0.6 + lz * 0.7, tu, tv)
    if rnd.any():
        dx = du / crx
        dy = (vr - (hb + th + 0.8 * cry)) / cry
        r2 = dx * dx + dy * dy
        shade = dx * lx + dy * ly + np.sqrt(np.maximum(1.0 - r2, 0.0)) * lz
        c.paint(rows, rnd & (r2 < 1.0), LEAVES, oid + 2, d, shade, tu, tv)
    if pine.any():
        ph = crx * 4.0
        f = (vr - (hb + 0.5 * th)) / ph
        hw = crx * 1.3 * (1.0 - f) * (0.6 + 0.4 * (1.0 - np.mod(f * 3.0, 1.0)))
        mask = pine & (f >= 0.0) & (f < 1.0) & (adu < hw)
        shade = np.clip(du / crx, -1, 1) * lx * 0.6 + ly * 0.5 + lz * 0.4
        c.paint(rows, mask, PINE, oid + 2, d, shade, tu, tv)

    if house.any():
        bw = s * (0.08 + 0.06 * r[3])
        bh = s * (0.12 + 0.1 * r[4])
        rh = bw * (0.6 + 0.5 * r[5])
        base = np.minimum(height(layer, uc - bw), height(layer, uc + bw)) - 0.01 * s
        wall_top = hb + bh
        wall = house & (adu < bw) & (vr > base) & (vr < wall_top)
        c.paint(rows, wall, WALL, oid + 3, d, lz * 0.8 + ly * 0.2, tu, tv)
        rf = (vr - wall_top) / rh
        roof = house & (rf >= 0.0) & (rf < 1.0) & (adu < bw * 1.15 * (1.0 - rf))
        c.paint(rows, roof, ROOF, oid + 4, d, -np.sign(du) * lx * 0.6 + ly * 0.7 + 0.1, tu, tv)
        lu = du / bw
        lv = (vr - hb) / bh
        nwin = np.where(r[6] > 0.5, 3, 2)
        cell = (lu + 1.0) * nwin / 2.0
        door_c = np.floor(r[7] * nwin)
        door_col = np.floor(cell) == door_c
        win_col = (np.mod(cell, 1.0) > 0.28) & (np.mod(cell, 1.0) < 0.72)
        lit = hash01(scene.seed, li * 16 + 9, k.astype(np.int64) * 8 + np.floor(cell)) < 0.55
        win = wall & win_col & ~door_col & (lv > 0.45) & (lv < 0.8)
        c.paint(rows, win, np.where(lit, WINDOW_LIT, WINDOW), oid + 5, d, lz, tu, tv)
        door = wall & win_col & door_col & (lv < 0.55)
        c.paint(rows, door, DOOR, oid + 6, d, lz * 0.8, tu, tv)


def _wrap(m: MoverSpec, view: _View, depth: float) -> np.ndarray:
    """Mover position [T]: it walks forever and re-enters on the other side of the view."""
    span = 1.6 * depth
    rel = np.mod(m.u0 + m.speed * view.t - view.cx + span, 2 * span) - span
    return view.cx + rel


def _animal(
    c: _Canvas,
    scene: SceneSpec,
    view: _View,
    i: int,
    m: MoverSpec,
    layer: LayerSpec,
    u: np.ndarray,
    v: np.ndarray,
    uq: np.ndarray,
    vq: np.ndarray,
) -> None:
    bl, bh, leg, hr, body_mat, head_mat, leg_mat = _ANIMAL_DIMS[m.kind]
    bl, bh, leg, hr = (x * m.size for x in (bl, bh, leg, hr))
    d = layer.depth
    lx, ly, lz = scene.light
    ua = _wrap(m, view, d)
    hb = height(layer, ua)[:, None, None]  # [T, 1, 1]
    ua = ua[:, None, None]
    direction = 1.0 if m.speed > 0 else -1.0
    rows = _row_band(vq, float(hb.min()) - 0.01, float(hb.max()) + leg + 2 * bh + 2 * hr)
    vr = vq[:, rows]
    tu, tv = view.tex(u, v[:, rows], d, layer.block)
    oid = (1 << 30) + i * 8
    du = uq - ua
    swing = np.sin(2 * math.pi * view.t / 10.0 + i)[:, None, None] * 0.3 * hr
    for j, (off, sw) in enumerate(((-0.6, 1.0), (0.6, -1.0))):
        lu = du - off * bl - sw * swing
        legm = (np.abs(lu) < 0.28 * hr) & (vr > hb - 0.005) & (vr < hb + leg + bh)
        c.paint(rows, legm, leg_mat, oid + j, d, lz * 0.7, tu, tv)
    dx = du / bl
    dy = (vr - (hb + leg + bh)) / bh
    r2 = dx * dx + dy * dy
    shade = dx * lx + dy * ly + np.sqrt(np.maximum(1.0 - r2, 0.0)) * lz
    c.paint(rows, r2 < 1.0, body_mat, oid + 2, d, shade, tu, tv)
    head_y = hb + leg + bh * (2.0 if m.kind == "horse" else 1.4)
    hx = (du - direction * (bl + 0.4 * hr)) / hr
    hy = (vr - head_y) / hr
    r2 = hx * hx + hy * hy
    shade = hx * lx + hy * ly + np.sqrt(np.maximum(1.0 - r2, 0.0)) * lz
    c.paint(rows, r2 < 1.0, head_mat, oid + 3, d, shade, tu, tv)


def _bird(c: _Canvas, scene: SceneSpec, view: _View, i: int, m: MoverSpec) -> None:
    d = BIRD_DEPTH
    block = _SUN_BLOCK * d * 0.5
    u, v, uq, vq = view.layer(d, block)
    ua = _wrap(m, view, d)[:, None, None]
    va = (view.ch + m.altitude * d + 0.05 * np.sin(0.1 * view.t + i))[:, None, None]
    span = 0.09 * m.size
    rows = _row_band(vq, float(va.min()) - span, float(va.max()) + span)
    vr = vq[:, rows]
    tu, tv = view.tex(u, v[:, rows], d, block)
    flap = np.sin(2 * math.pi * view.t / 7.0 + i)[:, None, None] * 0.6
    du = uq - ua
    adu = np.abs(du)
    wing = (adu < span) & (np.abs(vr - (va + flap * adu)) < 0.012 * m.size + 0.25 * adu * 0.1)
    body = (du / (0.03 * m.size)) ** 2 + ((vr - va) / (0.013 * m.size)) ** 2 < 1.0
    c.paint(rows, wing | body, BIRD, (1 << 30) + i * 8, d, scene.light[2], tu, tv)


def _water(c: _Canvas, scene: SceneSpec, view: _View, movers: list[tuple[int, MoverSpec]]) -> None:
    d = WATER_DEPTH
    block = 0.03 * d
    u, v, uq, vq = view.layer(d, block)
    rows = _row_band(vq, -np.inf, 0.0)
    mask = np.broadcast_to(vq[:, rows] < 0.0, (u.shape[0], rows.stop - rows.start, u.shape[2]))
    tu, tv = view.tex(u, v[:, rows], d, block)
    c.paint(rows, mask, WATER, 9, d, scene.light[1], tu, tv)
    for i, m in movers:
        if m.host == "water":
            _boat(c, scene, view, i, m, u, v, uq, vq, block)


def _boat(
    c: _Canvas,
    scene: SceneSpec,
    view: _View,
    i: int,
    m: MoverSpec,
    u: np.ndarray,
    v: np.ndarray,
    uq: np.ndarray,
    vq: np.ndarray,
    block: float,
) -> None:
    d = WATER_DEPTH
    s = m.size
    lx, ly, lz = scene.light
    ua = _wrap(m, view, d)[:, None, None]
    rows = _row_band(vq, -0.02 * s, 0.25 * s)
    vr = vq[:, rows]
    tu, tv = view.tex(u, v[:, rows], d, block)
    du = uq - ua
    direction = 1.0 if m.speed > 0 else -1.0
    hull_f = (vr + 0.015 * s) / (0.05 * s)
    hull = (hull_f >= 0) & (hull_f < 1) & (np.abs(du) < 0.1 * s * (0.7 + 0.3 * hull_f))
    mast = (np.abs(du) < 0.006 * s) & (vr >= 0.03 * s) & (vr < 0.22 * s)
    oid = (1 << 30) + i * 8
    c.paint(rows, hull | mast, BOAT, oid, d, lz * 0.8 + ly * 0.2, tu, tv)
    sf = (vr - 0.05 * s) / (0.16 * s)
    ahead = du * direction
    sail = (sf >= 0) & (sf < 1) & (ahead > 0.01 * s) & (ahead < 0.09 * s * (1 - sf))
    c.paint(rows, sail, SAIL, oid + 1, d, lz * 0.7 - direction * lx * 0.3, tu, tv)
