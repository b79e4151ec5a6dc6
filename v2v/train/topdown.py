"""Top-down tile-map scenes (the view of 2-D adventure and farming games): grass, paths, lakes,
trees and houses seen from above in three-quarter view, the camera scrolling over the map.

World coordinates are tiles, x right and y down the screen (south). The ground is a smooth field:
lakes where it is low, sand on their shores, roads on a wavy grid; trees (a round crown above a
short trunk) sit in 2x2-tile cells and houses (a gabled roof above a front wall with a door and
windows) in 14x14-tile cells, their presence and shape taken from an integer hash of (scene seed,
salt, cell). Every pixel is evaluated against the tables of the cells in view, vectorised over
frames and pixels. Blocky mode (pixel art) evaluates the same shapes at the centres of texels of
1/8 tile, so outlines become pixel staircases that scroll with the map.

Shape letters: T frames, H/W pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2v.train.scenes import (
    BIOMES,
    DIRT,
    DOOR,
    GRASS,
    LEAVES,
    PINE,
    ROCK,
    ROOF,
    SAND,
    SNOW,
    TIMES_OF_DAY,
    TRUNK,
    WALL,
    WATER,
    WINDOW,
    WINDOW_LIT,
    GBuffer,
    hash01,
)

TOPDOWN_MOTIONS = ("scroll", "still")
TEXELS = 8  # pixel-art texels per tile (blocky)
ROAD = 14  # road spacing and house cell, tiles
TREE = 2  # tree cell, tiles
LAKE_CELL = 12.0  # lake cell, tiles
_BIOME = {  # ground, tree_p, pine_p, house_p
    "meadow": (GRASS, 0.25, 0.1, 0.4),
    "forest": (GRASS, 0.7, 0.4, 0.2),
    "village": (GRASS, 0.2, 0.1, 0.9),
    "desert": (SAND, 0.05, 0.0, 0.4),
    "snowy": (SNOW, 0.35, 0.9, 0.4),
}
_LIGHT = {"morning": 30.0, "noon": 70.0, "afternoon": 45.0, "sunset": 15.0}


@dataclass(frozen=True)
class TopdownCamera:
    motion: str  # one of TOPDOWN_MOTIONS, for captions
    x0: float  # map position of the frame centre at time 0, tiles
    y0: float
    vx: float  # tiles per frame
    vy: float
    weave: float  # sideways weave, tiles
    period: float  # frames
    tiles: float  # tiles per frame height (zoom)


@dataclass(frozen=True)
class TopdownSpec:
    seed: int
    biome: str
    time_of_day: str
    light: tuple[float, float, float]  # unit vector toward the sun: x right, y north (up), z up
    camera: TopdownCamera
    ground: int  # ground material of the biome
    water: bool  # lakes
    lake: float  # field level below which there is water
    waves: tuple[tuple[float, float, float, float], ...]  # (amplitude, kx, ky, phase)
    paths: bool  # roads on a grid
    tree_p: float
    pine_p: float
    house_p: float
    kind: str = "topdown"

    has_mountains = False

    def trees(self) -> str:
        if self.tree_p < 0.1:
            return ""
        return "pine trees" if self.pine_p > 0.5 else "trees"

    def houses(self) -> bool:
        return self.house_p >= 0.3


def sample_topdown(seed: int) -> TopdownSpec:
    """A random tile map and camera, fully determined by `seed`."""
    rng = np.random.default_rng([seed, 47])
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    biome = str(rng.choice(BIOMES))
    tod = str(rng.choice(TIMES_OF_DAY))
    motion = str(rng.choice(TOPDOWN_MOTIONS, p=[0.85, 0.15]))
    ground, tree_p, pine_p, house_p = _BIOME[biome]
    speed = u(0.04, 0.12) if motion == "scroll" else u(0.0, 0.004)
    heading = u(0, 2 * math.pi)
    camera = TopdownCamera(
        motion,
        u(-3000, 3000),
        u(-3000, 3000),
        speed * math.cos(heading),
        speed * math.sin(heading),
        u(0.5, 3.0) if motion == "scroll" else 0.0,
        u(120.0, 260.0),
        u(9.0, 15.0),
    )
    waves = tuple((u(0.3, 0.6) / (i + 1), *_wave(rng, u(25.0, 60.0) / (i + 1)), u(0, 2 * math.pi)) for i in range(3))
    angle = math.radians(_LIGHT[tod] + u(-5.0, 5.0))
    az = u(0.6, 2.5)  # the sun is in the north half (shadows fall south)
    light = (math.cos(angle) * math.cos(az), math.cos(angle) * math.sin(az), math.sin(angle))
    water = rng.random() < (0.3 if biome == "desert" else 0.6)
    return TopdownSpec(
        seed=int(seed),
        biome=biome,
        time_of_day=tod,
        light=light,
        camera=camera,
        ground=ground,
        water=water,
        lake=u(-0.45, -0.2) if water else -99.0,
        waves=waves,
        paths=rng.random() < 0.8,
        tree_p=tree_p,
        pine_p=pine_p,
        house_p=house_p,
    )


def _wave(rng: np.random.Generator, wavelength: float) -> tuple[float, float]:
    a = float(rng.uniform(0, 2 * math.pi))
    k = 2 * math.pi / wavelength
    return k * math.cos(a), k * math.sin(a)


def camera_path(cam: TopdownCamera, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame centre on the map (tiles) at frame times t [T] -> x [T], y [T]."""
    speed = math.hypot(cam.vx, cam.vy) or 1.0
    side = cam.weave * np.sin(2 * math.pi * t / cam.period)
    return cam.x0 + cam.vx * t - side * cam.vy / speed, cam.y0 + cam.vy * t + side * cam.vx / speed


def field(spec: TopdownSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The smooth ground field (float64, about -1..1); water where it is below spec.lake."""
    f = np.zeros(np.broadcast(x, y).shape)
    for a, kx, ky, ph in spec.waves:
        f = f + a * np.sin(kx * x + ky * y + ph)
    ci, cj = np.floor(x / LAKE_CELL), np.floor(y / LAKE_CELL)
    for di in (-1.0, 0.0, 1.0):
        for dj in (-1.0, 0.0, 1.0):
            key = (ci + di).astype(np.int64) * 1_000_003 + (cj + dj).astype(np.int64)
            r = [hash01(spec.seed, 200 + n, key) for n in range(4)]
            dx = x - (ci + di + 0.2 + 0.6 * r[0]) * LAKE_CELL
            dy = y - (cj + dj + 0.2 + 0.6 * r[1]) * LAKE_CELL
            q = np.maximum(1.0 - (dx * dx + dy * dy) / (LAKE_CELL * (0.35 + 0.3 * r[2])) ** 2, 0.0)
            f = f - np.where(r[3] < 0.35, 0.9, 0.0) * q * q
    return f


def _road_offset(k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Wiggle (tiles) of road k at position s along it."""
    return 1.2 * np.sin(s * 0.21 + k * 2.39996) + 0.5 * np.sin(s * 0.53 + k * 1.3)


def roads(spec: TopdownSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """bool: on a road (roads every ROAD tiles in both directions, wiggling)."""
    if not spec.paths:
        return np.zeros(np.broadcast(x, y).shape, bool)
    j = np.floor(y / ROAD + 0.5)
    i = np.floor(x / ROAD + 0.5)
    near_h = np.abs(y - j * ROAD - _road_offset(j, x)) < 0.6
    near_v = np.abs(x - i * ROAD - _road_offset(i + 7919, y)) < 0.6
    return near_h | near_v


@dataclass
class _Tables:
    """Per-cell content of a region: houses per ROAD cell, trees per TREE cell, the field per tile."""

    hi0: int
    hj0: int
    house: np.ndarray  # float32 [ni, nj, 7]: present, x, y, width, roof depth, door column, seed
    ti0: int
    tj0: int
    tree: np.ndarray  # float32 [ni, nj, 5]: present, x, y, radius, pine
    fi0: int
    fj0: int
    corners: np.ndarray  # float32 [(ni - 1) * (nj - 1), 4] field at the tile corners of each tile
    fnj: int


def _tables(spec: TopdownSpec, x0: float, x1: float, y0: float, y1: float) -> _Tables:
    hi = np.arange(math.floor(x0 / ROAD) - 1, math.floor(x1 / ROAD) + 2)
    hj = np.arange(math.floor(y0 / ROAD) - 1, math.floor(y1 / ROAD) + 2)
    ii, jj = np.meshgrid(hi, hj, indexing="ij")
    key = ii.astype(np.int64) * 1_000_003 + jj
    r = [hash01(spec.seed, 220 + n, key) for n in range(6)]
    w = 3.0 + np.floor(r[1] * 3)
    d = 2.0 + np.floor(r[2] * 2)
    hx = ii * ROAD + 2.5 + np.floor(r[3] * (ROAD - 5.0 - w))
    hy = jj * ROAD + 2.5 + np.floor(r[4] * (ROAD - 6.0 - d))
    corners_x = np.stack([hx, hx + w, hx, hx + w], -1)
    corners_y = np.stack([hy, hy, hy + d + 1, hy + d + 1], -1)
    dry = (field(spec, corners_x, corners_y) > spec.lake + 0.15).all(-1)
    present = (r[0] < spec.house_p) & dry
    house = np.stack([present, hx, hy, w, d, hx + np.floor(r[5] * w) + 0.5, r[0] * 7.31], -1)

    ti = np.arange(math.floor(x0 / TREE) - 1, math.floor(x1 / TREE) + 2)
    tj = np.arange(math.floor(y0 / TREE) - 1, math.floor(y1 / TREE) + 2)
    ii, jj = np.meshgrid(ti, tj, indexing="ij")
    key = ii.astype(np.int64) * 1_000_003 + jj
    r = [hash01(spec.seed, 240 + n, key) for n in range(5)]
    tx = (ii + 0.35 + 0.3 * r[1]) * TREE
    ty = (jj + 0.45 + 0.15 * r[2]) * TREE
    rad = 0.5 + 0.15 * r[3]
    ok = (r[0] < spec.tree_p) & (field(spec, tx, ty) > spec.lake + 0.12)
    ok &= ~roads(spec, tx, ty + 0.6) & ~roads(spec, tx, ty)
    hcell = (np.floor(tx / ROAD) - hi[0]).astype(np.int64), (np.floor(ty / ROAD) - hj[0]).astype(np.int64)
    h = house[hcell[0], hcell[1]]
    in_house = (
        (h[..., 0] > 0)
        & (tx > h[..., 1] - 1.2)
        & (tx < h[..., 1] + h[..., 3] + 1.2)
        & (ty > h[..., 2] - 1.0)
        & (ty < h[..., 2] + h[..., 4] + 2.6)
    )
    tree = np.stack([ok & ~in_house, tx, ty, rad, r[4] < spec.pine_p], -1).astype(np.float32)

    fi0, fj0 = math.floor(x0) - 1, math.floor(y0) - 1
    fx = np.arange(fi0, math.floor(x1) + 3, dtype=np.float64)
    fy = np.arange(fj0, math.floor(y1) + 3, dtype=np.float64)
    f = field(spec, fx[:, None], fy[None, :]).astype(np.float32)
    corners = np.stack([f[:-1, :-1], f[1:, :-1], f[:-1, 1:], f[1:, 1:]], -1).reshape(-1, 4)
    return _Tables(
        int(hi[0]),
        int(hj[0]),
        house.astype(np.float32),
        int(ti[0]),
        int(tj[0]),
        tree,
        fi0,
        fj0,
        corners,
        f.shape[1] - 1,
    )


def _lookup(table: np.ndarray, i0: int, j0: int, ci: np.ndarray, cj: np.ndarray) -> np.ndarray:
    ni, nj, c = table.shape
    i = np.clip(ci - i0, 0, ni - 1).astype(np.int32)
    j = np.clip(cj - j0, 0, nj - 1).astype(np.int32)
    return np.moveaxis(np.take(table.reshape(-1, c), i * nj + j, axis=0), -1, 0)


def _frame(
    spec: TopdownSpec, tab: _Tables, cx: float, cy: float, S: float, W: int, H: int, blocky: bool
) -> tuple[np.ndarray, ...]:
    """One frame centred on map point (cx, cy): mat, inst, depth, shade, x, y, each [1, H, W]."""
    px = ((np.arange(W) + 0.5 - W / 2) / S)[None, None, :]
    py = ((np.arange(H) + 0.5 - H / 2) / S)[None, :, None]
    x: np.ndarray = (cx + px).astype(np.float32)  # [1, 1, W]
    y: np.ndarray = (cy + py).astype(np.float32)  # [1, H, 1]
    if blocky:
        x = (np.floor(x * TEXELS) + 0.5) / TEXELS
        y = (np.floor(y * TEXELS) + 0.5) / TEXELS
    x, y = np.broadcast_arrays(x, y)  # [1, H, W]
    lx, ly, lz = spec.light
    # Ground: the field interpolated over tiles, water, sand shores, roads.
    fu, fv = x - tab.fi0, y - tab.fj0
    i, j = np.floor(fu), np.floor(fv)
    q = np.moveaxis(np.take(tab.corners, (i * tab.fnj + j).astype(np.int32), axis=0), -1, 0)
    a, b = fu - i, fv - j
    top = q[0] + (q[1] - q[0]) * a
    f = top + (q[2] + (q[3] - q[2]) * a - top) * b
    water = f < spec.lake
    shore = f < spec.lake + 0.08
    road = roads(spec, x, y) & ~shore
    ground = spec.ground
    mat = np.where(
        water,
        WATER,
        np.where(road, ROCK if spec.biome == "village" else DIRT, np.where(shore & (ground == GRASS), SAND, ground)),
    ).astype(np.uint8)
    inst = np.where(water, 9, np.where(road, 12, np.where(mat == SAND, 11, 10))).astype(np.int32)
    depth = np.where(water, 1.6, 1.5).astype(np.float32)
    shade = np.full(x.shape, lz, np.float32)
    # Shadows of crowns and houses fall away from the sun.
    off = 0.6 / max(lz, 0.25)
    sx, sy = x + lx * off, y - ly * off
    ts = _lookup(tab.tree, tab.ti0, tab.tj0, np.floor(sx / TREE), np.floor(sy / TREE))
    in_shadow = (ts[0] > 0) & ((sx - ts[1]) ** 2 + (sy - ts[2] + 0.45) ** 2 < ts[3] ** 2)
    hs = _lookup(tab.house, tab.hi0, tab.hj0, np.floor(sx / ROAD), np.floor(sy / ROAD))
    in_shadow |= (hs[0] > 0) & (sx > hs[1]) & (sx < hs[1] + hs[3]) & (sy > hs[2]) & (sy < hs[2] + hs[4] + 1.0)
    shade = np.where(in_shadow & ~water, lz * 0.2 - 0.2, shade)
    # Trees: a trunk below a round crown.
    tr = _lookup(tab.tree, tab.ti0, tab.tj0, np.floor(x / TREE), np.floor(y / TREE))
    has = tr[0] > 0
    ddx, ddy = x - tr[1], y - (tr[2] - 0.45)
    trunk = has & (np.abs(ddx) < 0.12) & (ddy > 0) & (ddy < 0.55 + tr[3] * 0.3)
    tkey = np.floor(x / TREE).astype(np.int64) * 4096 + np.floor(y / TREE).astype(np.int64)
    oid = (1 << 24) + ((tkey & 0xFFFFF) << 3)
    mat = np.where(trunk, TRUNK, mat)
    inst = np.where(trunk, oid + 1, inst)
    shade = np.where(trunk, 0.3 + 0.5 * lz - ddx * 2.0 * lx, shade)
    depth = np.where(trunk, 1.2, depth)
    rr = (ddx * ddx + ddy * ddy) / tr[3] ** 2
    crown = has & (rr < 1.0)
    nz = np.sqrt(np.maximum(1.0 - rr, 0.0))
    cshade = (ddx * lx - ddy * ly) / tr[3] + nz * lz
    mat = np.where(crown, np.where(tr[4] > 0, PINE, LEAVES), mat)
    inst = np.where(crown, oid + 2, inst)
    shade = np.where(crown, cshade, shade)
    depth = np.where(crown, 1.1 - 0.1 * nz, depth)
    # Houses: a gabled roof (ridge along x) above a front wall with a door and windows.
    hz = _lookup(tab.house, tab.hi0, tab.hj0, np.floor(x / ROAD), np.floor(y / ROAD))
    hx0, hy0, hw, hd = hz[1], hz[2], hz[3], hz[4]
    inside_x = (hz[0] > 0) & (x > hx0) & (x < hx0 + hw)
    roof = inside_x & (y > hy0) & (y < hy0 + hd)
    wall = inside_x & (y >= hy0 + hd) & (y < hy0 + hd + 1.0)
    hkey = np.floor(x / ROAD).astype(np.int64) * 4096 + np.floor(y / ROAD).astype(np.int64)
    hid = (1 << 24) + (((hkey + 777_777) & 0xFFFFF) << 3)
    north = y < hy0 + hd / 2
    rshade = np.where(north, 0.7 * (ly + lz), 0.7 * (lz - ly))
    wy = y - hy0 - hd
    col = x - hx0
    door = (
        wall
        & (np.floor(col) == np.floor(hz[5] - hx0))
        & (wy > 0.25)
        & ((np.abs(col - np.floor(col) - 0.5) < 0.32) | blocky)
    )
    frac = col - np.floor(col)
    win = wall & ~door & (wy > 0.25) & (wy < 0.7) & (np.abs(frac - 0.5) < (0.5 if blocky else 0.28))
    win &= np.mod(np.floor(col), 2) == 0
    lit = np.mod(np.floor(col) * 0.618 + hz[6], 1.0) < 0.55
    mat = np.where(
        roof, ROOF, np.where(door, DOOR, np.where(win, np.where(lit, WINDOW_LIT, WINDOW), np.where(wall, WALL, mat)))
    )
    inst = np.where(roof, hid + 4, np.where(door, hid + 6, np.where(win, hid + 5, np.where(wall, hid + 3, inst))))
    shade = np.where(roof, rshade, np.where(wall, 0.35 * lz + 0.5 * max(-ly, 0.0) + 0.2, shade))
    depth = np.where(roof, 1.0, np.where(wall, 1.15, depth))
    return mat, inst, depth, shade, x, y


def rasterize_topdown(spec: TopdownSpec, start: int, frames: int, size: tuple[int, int], blocky: bool) -> GBuffer:
    """G-buffer of frames start .. start+frames-1 at size (W, H); blocky is pixel art."""
    W, H = size
    T = frames
    t = np.arange(start, start + frames, dtype=np.float64)
    cx, cy = camera_path(spec.camera, t)
    S = H / spec.camera.tiles  # pixels per tile
    half_w, half_h = W / 2 / S + 3, H / 2 / S + 3
    tab = _tables(spec, cx.min() - half_w, cx.max() + half_w, cy.min() - half_h, cy.max() + half_h)
    fields = [_frame(spec, tab, float(cx[i]), float(cy[i]), S, W, H, blocky) for i in range(T)]
    mat, inst, depth, shade, x, y = (np.concatenate(f) for f in zip(*fields, strict=True))
    k = S / H if not blocky else TEXELS / 4.0
    g = GBuffer(
        mat=mat.astype(np.uint8),
        inst=inst.astype(np.int32),
        depth=depth.astype(np.float32),
        shade=shade.astype(np.float32),
        tu=(x * k).astype(np.float32),
        tv=(y * k).astype(np.float32),
        elev=np.full((T, H, 1), -0.5, np.float32),
        sun=np.tile(np.array([[-10.0 * (W + H), -10.0 * (W + H), 0.055 * H]], np.float32), (T, 1)),
        water_row=np.full(T, np.nan, np.float32),
        t=t,
        blocky=blocky,
    )
    return g


__all__ = ["TopdownSpec", "TopdownCamera", "sample_topdown", "rasterize_topdown", "camera_path", "TOPDOWN_MOTIONS"]
