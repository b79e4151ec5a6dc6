"""Trees and houses of the voxel world (voxel.py) as primitives for the ray tracer (voxel_objects.py).

Trees sit in TREE_CELL cells and houses in HOUSE_CELL cells, their presence and shape taken from an
integer hash of (scene seed, salt, cell), so the world is endless and deterministic: a region's
primitives do not depend on which region is asked for. Smooth mode makes round trees (a cylinder
trunk and an ellipsoid crown) and houses as one convex prism of walls and a gabled roof; blocky mode
makes the same trees and houses of unit blocks (boxes for trunks, layered crowns, stepped roofs).
Nothing grows on the camera's walk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2v.train.scenes import LEAVES, PINE, ROOF, TRUNK, WALL, hash01
from v2v.train.voxel import HeightGrid, VoxelSpec, cell_key, clear_of_path, terrain

TREE_CELL = 5  # blocks per tree cell
HOUSE_CELL = 24  # blocks per house cell
BOX, ELLIPSOID, CYLINDER, HOUSE = range(4)  # primitive kinds

__all__ = ["Prims", "objects", "BOX", "ELLIPSOID", "CYLINDER", "HOUSE", "TREE_CELL", "HOUSE_CELL"]


@dataclass
class Prims:
    """Primitives of the trees and houses in a region, one row each (N rows)."""

    kind: np.ndarray  # int8 [N] BOX | ELLIPSOID | CYLINDER | HOUSE
    lo: np.ndarray  # float64 [N, 3] bounding box
    hi: np.ndarray  # float64 [N, 3]
    c: np.ndarray  # float64 [N, 3] centre (ellipsoid, cylinder)
    r: np.ndarray  # float64 [N, 3] radii (ellipsoid, cylinder); HOUSE: (ridge axis, wall top, -)
    mat: np.ndarray  # uint8 [N] material (WALL for walls with windows and a door)
    inst: np.ndarray  # int64 [N] object/part id
    uid: np.ndarray  # int64 [N] stable order of primitives (tie-break between equal depths)
    door: np.ndarray  # float64 [N, 3] WALL: door face axis (0 x, 2 z), face coordinate, door centre


def objects(
    spec: VoxelSpec, x0: float, x1: float, z0: float, z1: float, blocky: bool, grid: HeightGrid | None = None
) -> Prims:
    """All tree and house primitives whose cells touch [x0, x1] x [z0, z1], sorted by uid. `grid`
    (height_grid of that region) saves evaluating the terrain again at the trees."""
    rows: list[tuple] = []
    houses = _houses(spec, x0 - HOUSE_CELL, x1 + HOUSE_CELL, z0 - HOUSE_CELL, z1 + HOUSE_CELL)
    for hx, hz, wx, wz, y0, wall, key in houses:
        _house_prims(rows, spec, hx, hz, wx, wz, y0, wall, key, blocky)
    i = np.arange(math.floor(x0 / TREE_CELL) - 1, math.floor(x1 / TREE_CELL) + 2)
    j = np.arange(math.floor(z0 / TREE_CELL) - 1, math.floor(z1 / TREE_CELL) + 2)
    ii, jj = np.meshgrid(i, j, indexing="ij")
    key = cell_key(ii, jj).ravel()
    r = [hash01(spec.seed, 60 + n, key) for n in range(6)]
    x = (ii.ravel() * TREE_CELL + np.floor(r[1] * TREE_CELL)) + 0.5
    z = (jj.ravel() * TREE_CELL + np.floor(r[2] * TREE_CELL)) + 0.5
    h, slope = _height_and_slope(spec, x, z, grid)
    ok = (r[0] < spec.tree_p) & (h > spec.water_level + 0.8) & (slope < 0.9)
    ok &= clear_of_path(spec, x, z, 4.5) & ~_in_house(houses, x, z)
    for n in np.flatnonzero(ok):
        _tree_prims(rows, spec, x[n], z[n], h[n], r[3][n], r[4][n], r[5][n], int(key[n]), blocky)
    return _pack(rows)


def _height_and_slope(
    spec: VoxelSpec, x: np.ndarray, z: np.ndarray, grid: HeightGrid | None
) -> tuple[np.ndarray, np.ndarray]:
    """Terrain height and slope at block centres x, z, exactly as height_grid stores them (float32
    values), from `grid` where it covers them, else evaluated."""
    h = np.zeros(x.shape)
    g = np.zeros(x.shape + (2,))
    inside = np.zeros(x.shape, bool)
    if grid is not None:
        i = np.floor(x).astype(np.int64) - grid.i0
        j = np.floor(z).astype(np.int64) - grid.j0
        inside = (i >= 0) & (j >= 0) & (i < grid.hg.shape[0]) & (j < grid.hg.shape[1])
        v = grid.hg[i[inside], j[inside]].astype(np.float64)
        h[inside], g[inside] = v[:, 0], v[:, 1:]
    out = ~inside
    if out.any():
        xo, zo = x[out], z[out]
        h[out] = terrain(spec, xo, zo).astype(np.float32)
        g[out, 0] = ((terrain(spec, xo + 1, zo) - terrain(spec, xo - 1, zo)) * 0.5).astype(np.float32)
        g[out, 1] = ((terrain(spec, xo, zo + 1) - terrain(spec, xo, zo - 1)) * 0.5).astype(np.float32)
    return h, np.hypot(g[:, 0], g[:, 1])


def _houses(spec: VoxelSpec, x0: float, x1: float, z0: float, z1: float) -> list[tuple]:
    """(hx, hz, wx, wz, floor y, wall height, key) of the houses in the cells touching the region."""
    i = np.arange(math.floor(x0 / HOUSE_CELL), math.floor(x1 / HOUSE_CELL) + 1)
    j = np.arange(math.floor(z0 / HOUSE_CELL), math.floor(z1 / HOUSE_CELL) + 1)
    ii, jj = (a.ravel() for a in np.meshgrid(i, j, indexing="ij"))
    key = cell_key(ii, jj)
    r = [hash01(spec.seed, 80 + n, key) for n in range(6)]
    wx, wz = 5 + np.floor(r[1] * 4), 5 + np.floor(r[2] * 4)
    hx = ii * HOUSE_CELL + 3 + np.floor(r[3] * (HOUSE_CELL - 6 - wx))
    hz = jj * HOUSE_CELL + 3 + np.floor(r[4] * (HOUSE_CELL - 6 - wz))
    cx = np.stack([hx, hx + wx, hx, hx + wx, hx + wx / 2], axis=1)  # [N, 5] corners and centre
    cz = np.stack([hz, hz, hz + wz, hz + wz, hz + wz / 2], axis=1)
    h = terrain(spec, cx, cz)
    ok = (r[0] < spec.house_p) & (h.max(1) - h.min(1) <= 2.5) & (h.min(1) >= spec.water_level + 0.5)
    ok &= clear_of_path(spec, cx, cz, 3.5).all(1)
    ok &= clear_of_path(spec, cx[:, 4], cz[:, 4], 3.5 + np.maximum(wx, wz) / 2)
    return [
        (
            int(hx[n]),
            int(hz[n]),
            int(wx[n]),
            int(wz[n]),
            float(math.floor(h[n].min() + 0.5)),
            3 + int(r[5][n] * 2),
            int(key[n]),
        )
        for n in np.flatnonzero(ok)
    ]


def _in_house(houses: list[tuple], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """bool: points within 2.5 blocks of a house footprint."""
    inside = np.zeros(x.shape, bool)
    for hx, hz, wx, wz, *_ in houses:
        inside |= (x > hx - 2.5) & (x < hx + wx + 2.5) & (z > hz - 2.5) & (z < hz + wz + 2.5)
    return inside


def _oid(key: int) -> int:
    return (1 << 24) + ((key & 0xFFFFF) << 3)


def _tree_prims(
    rows: list, spec: VoxelSpec, x: float, z: float, h: float, ra: float, rb: float, rc: float, key: int, blocky: bool
) -> None:
    pine = rc < spec.pine_p
    oid = _oid(key)
    trunk_h = 2.0 + 2.0 * ra if not pine else 1.0 + ra
    rad = 1.6 + 1.0 * rb if not pine else 1.2 + 0.6 * rb
    ry = rad * (0.9 if not pine else 2.4)
    crown = PINE if pine else LEAVES
    if not blocky:
        cy = h + trunk_h + 0.7 * ry
        rows.append(
            (CYLINDER, (x, h - 1.0 + (trunk_h + 1.0) / 2, z), (0.28, (trunk_h + 1.0) / 2, 0.28), TRUNK, oid + 1, 0)
        )
        rows.append((ELLIPSOID, (x, cy, z), (rad, ry, rad), crown, oid + 2, 1))
        return
    g = math.floor(h + 0.5)
    top = g + round(trunk_h)
    bx, bz = math.floor(x), math.floor(z)
    rows.append((BOX, (bx, g - 1.0, bz), (bx + 1.0, top + 1.0, bz + 1.0), TRUNK, oid + 1, 0))
    cy = math.floor(h + trunk_h + 0.7 * ry + 0.5)
    k = max(1, round(rad - 0.5))
    hy = max(1, round(ry * 0.5))
    layers = (
        ((k, cy - hy, cy + hy), (k - 1, cy + hy, cy + hy + 1))
        if not pine
        else tuple(
            (max(0, k - n), cy - hy + 2 * n * hy // 3, cy - hy + 2 * (n + 1) * hy // 3 + (n == 2)) for n in range(3)
        )
    )
    for n, (w, y0, y1) in enumerate(layers):
        if y1 > y0:
            rows.append((BOX, (bx - w, y0, bz - w), (bx + 1.0 + w, y1, bz + 1.0 + w), crown, oid + 2, 1 + n))


def _house_prims(
    rows: list, spec: VoxelSpec, hx: int, hz: int, wx: int, wz: int, y0: float, wall: int, key: int, blocky: bool
) -> None:
    oid = _oid(key)
    top = y0 + wall
    axis = 0 if wx >= wz else 2  # the ridge runs along the longer side
    short = wz if axis == 0 else wx
    door_axis = 2 if axis == 0 else 0  # the door is in a long wall
    door_face = float(hz if axis == 0 else hx)
    door_at = (hx + wx // 2 + 0.5) if axis == 0 else (hz + wz // 2 + 0.5)
    door = (door_axis, door_face, door_at)
    lo, hi = (hx, y0 - 1.0, hz), (hx + wx, top, hz + wz)
    if not blocky:
        roof_top = top + short / 2
        rows.append((HOUSE, lo, (hx + wx, roof_top, hz + wz), (axis, top, 0.0), WALL, oid + 3, 0, door))
        return
    rows.append((BOX, lo, hi, WALL, oid + 3, 0, door))
    for n in range((short + 1) // 2):
        if axis == 0:
            blo, bhi = (hx, top + n, hz + n), (hx + wx, top + n + 1, hz + wz - n)
        else:
            blo, bhi = (hx + n, top + n, hz), (hx + wx - n, top + n + 1, hz + wz)
        rows.append((BOX, blo, bhi, ROOF, oid + 4, 1 + n))


def _pack(rows: list) -> Prims:
    n = len(rows)
    kind = np.zeros(n, np.int8)
    lo, hi, c, r, door = (np.zeros((n, 3)) for _ in range(5))
    mat = np.zeros(n, np.uint8)
    inst = np.zeros(n, np.int64)
    uid = np.zeros(n, np.int64)
    for m, row in enumerate(rows):
        kind[m] = row[0]
        if row[0] in (ELLIPSOID, CYLINDER):
            c[m], r[m] = row[1], row[2]
            lo[m], hi[m] = np.subtract(row[1], row[2]), np.add(row[1], row[2])
            mat[m], inst[m], part = row[3], row[4], row[5]
        elif row[0] == HOUSE:
            lo[m], hi[m], r[m] = row[1], row[2], row[3]
            mat[m], inst[m], part, door[m] = row[4], row[5], row[6], row[7]
        else:
            lo[m], hi[m] = row[1], row[2]
            mat[m], inst[m], part = row[3], row[4], row[5]
            if len(row) > 6:
                door[m] = row[6]
        uid[m] = (inst[m] << 4) + part
    order = np.argsort(uid, kind="stable")
    return Prims(
        kind[order], lo[order], hi[order], c[order], r[order], mat[order], inst[order], uid[order], door[order]
    )
