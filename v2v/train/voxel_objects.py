"""Trees and houses of the voxel world (voxel.Prims), ray-traced into a GBuffer over the terrain.

Every primitive's bounding box is projected to the screen; each pixel of that rectangle is a
candidate (frame, pixel, primitive) whose ray is intersected with the primitive analytically: boxes
(slabs), ellipsoids, vertical cylinders and, for smooth houses, the convex prism of walls and a
gabled roof. The nearest hit in front of the terrain wins per pixel (one np.minimum.at over a key
that orders by depth, then by primitive), so the result does not depend on which other primitives
a chunk holds. Ground shadows of crowns and houses come from a small map of their footprints shifted
away from the sun (ShadowMap).

Shape letters: T frames, H/W pixels, N primitives, P candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from v2v.train.scenes import DOOR, LEAVES, PINE, ROOF, WALL, WINDOW, WINDOW_LIT, GBuffer, hash01
from v2v.train.voxel import VoxelSpec, terrain
from v2v.train.voxel_props import BOX, CYLINDER, ELLIPSOID, HOUSE, Prims

if TYPE_CHECKING:  # raster_voxel imports this module
    from v2v.train.raster_voxel import _View

NEAR = 0.2
Vec3 = Sequence[np.ndarray]  # (x, y, z): one array over the candidates per axis
_DEPTH_BINS = (-np.inf, 4.0, 8.0, 12.0, 18.0, 26.0, 40.0, 60.0, np.inf)  # primitives are drawn in these depth bins


def _boxes(prims: Prims, view: _View, H: int, W: int, view_dist: float) -> tuple[np.ndarray, ...]:
    """Screen rectangle of every primitive in every frame that can show: (t, n, r0, r1, c0, c1, zmin)."""
    bits = np.array([[(m >> a) & 1 for a in range(3)] for m in range(8)], bool)  # [8, 3]
    corners = np.where(bits[None], prims.hi[:, None, :], prims.lo[:, None, :])  # [N, 8, 3]
    rel = corners[None] - view.pos[:, None, None, :]  # [T, N, 8, 3]
    fx, fz = view.fwd[:, 0, None, None], view.fwd[:, 1, None, None]
    zc = rel[..., 0] * fx + rel[..., 2] * fz  # [T, N, 8]
    xc = rel[..., 0] * view.right[:, 0, None, None] + rel[..., 2] * view.right[:, 1, None, None]
    yc = rel[..., 1]
    zmin, zmax = zc.min(2), zc.max(2)  # [T, N]
    zlo, zhi = np.maximum(zmin, NEAR), np.maximum(zmax, NEAR)
    xs = [xc.min(2) / zlo, xc.min(2) / zhi, xc.max(2) / zlo, xc.max(2) / zhi]
    ys = [yc.min(2) / zlo, yc.min(2) / zhi, yc.max(2) / zlo, yc.max(2) / zhi]
    F, yh = view.F, view.yh[:, None]
    c0 = np.clip(np.floor(W / 2 + F * np.minimum.reduce(xs) - 0.5), 0, W).astype(np.int64)
    c1 = np.clip(np.ceil(W / 2 + F * np.maximum.reduce(xs) - 0.5) + 1, 0, W).astype(np.int64)
    r0 = np.clip(np.floor(yh - F * np.maximum.reduce(ys) - 0.5), 0, H).astype(np.int64)
    r1 = np.clip(np.ceil(yh - F * np.minimum.reduce(ys) - 0.5) + 1, 0, H).astype(np.int64)
    vis = (zmax > NEAR) & (zmin < view_dist) & (c1 > c0) & (r1 > r0)
    tt, nn = np.nonzero(vis)
    return tt, nn, r0[tt, nn], r1[tt, nn], c0[tt, nn], c1[tt, nn], zmin[tt, nn]


def _candidates(
    boxes: tuple[np.ndarray, ...], hit_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ti, r, c, n) of every pixel inside a rectangle of `boxes` not already hidden (hit_s)."""
    T, H, W = hit_s.shape
    tt, nn, r0, r1, c0, c1, zmin = boxes
    w, h = c1 - c0, r1 - r0
    area = w * h
    rep = lambda a: np.repeat(a, area)  # noqa: E731
    local = np.arange(int(area.sum())) - rep(np.cumsum(area) - area)
    wr = rep(w)
    ti, n = rep(tt), rep(nn)
    r = rep(r0) + local // wr
    c = rep(c0) + local % wr
    keep = np.take(hit_s.reshape(-1), (ti * H + r) * W + c) > rep(zmin)
    return ti[keep], r[keep], c[keep], n[keep]


def _box(o: Vec3, d: Vec3, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab test: entry depth (inf on a miss) and the entry axis (0, 1, 2)."""
    inv = [1.0 / np.where(np.abs(d[a]) < 1e-12, 1e-12, d[a]) for a in range(3)]
    t0 = [(lo[:, a] - o[a]) * inv[a] for a in range(3)]
    t1 = [(hi[:, a] - o[a]) * inv[a] for a in range(3)]
    tmin = np.stack([np.minimum(t0[a], t1[a]) for a in range(3)])
    tmax = np.minimum.reduce([np.maximum(t0[a], t1[a]) for a in range(3)])
    enter = tmin.max(0)
    s = np.where((enter <= tmax) & (enter > NEAR), enter, np.inf)
    return s, tmin.argmax(0)


def _ellipsoid(o: Vec3, d: Vec3, c: np.ndarray, rad: np.ndarray) -> np.ndarray:
    oo = [(o[a] - c[:, a]) / rad[:, a] for a in range(3)]
    dd = [d[a] / rad[:, a] for a in range(3)]
    a2 = dd[0] ** 2 + dd[1] ** 2 + dd[2] ** 2
    b = oo[0] * dd[0] + oo[1] * dd[1] + oo[2] * dd[2]
    cc = oo[0] ** 2 + oo[1] ** 2 + oo[2] ** 2 - 1.0
    disc = b * b - a2 * cc
    s = (-b - np.sqrt(np.maximum(disc, 0.0))) / a2
    return np.where((disc >= 0) & (s > NEAR), s, np.inf)


def _cylinder(o: Vec3, d: Vec3, c: np.ndarray, rad: np.ndarray) -> np.ndarray:
    ox, oz = (o[0] - c[:, 0]) / rad[:, 0], (o[2] - c[:, 2]) / rad[:, 0]
    dx, dz = d[0] / rad[:, 0], d[2] / rad[:, 0]
    a2 = np.maximum(dx * dx + dz * dz, 1e-12)
    b = ox * dx + oz * dz
    disc = b * b - a2 * (ox * ox + oz * oz - 1.0)
    s = (-b - np.sqrt(np.maximum(disc, 0.0))) / a2
    y = o[1] + s * d[1]
    ok = (disc >= 0) & (s > NEAR) & (np.abs(y - c[:, 1]) <= rad[:, 1])
    return np.where(ok, s, np.inf)


def _house(
    o: Vec3, d: Vec3, lo: np.ndarray, hi: np.ndarray, axis: np.ndarray, top: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convex prism of walls and a 45-degree gabled roof whose ridge runs along `axis` (0 x, 2 z).
    Returns entry depth and the entered plane (0-3 walls, 4 floor, 5-6 roof slopes)."""
    along = np.where(axis == 0, 0, 2)
    across = 2 - along
    pick = lambda v, ax: np.where(ax == 0, v[0], v[2])  # noqa: E731
    oa, ob, oy = pick(o, along), pick(o, across), o[1]
    da, db, dy = pick(d, along), pick(d, across), d[1]
    la, ha = np.choose(along, lo.T), np.choose(along, hi.T)
    lb, hb = np.choose(across, lo.T), np.choose(across, hi.T)
    planes = (
        (-1, 0, 0, -la),
        (1, 0, 0, ha),
        (0, 0, -1, -lb),
        (0, 0, 1, hb),
        (0, -1, 0, -lo[:, 1]),
        (0, 1, -1, top - lb),
        (0, 1, 1, top + hb),
    )
    enter = np.full(oa.shape, -np.inf)
    leave = np.full(oa.shape, np.inf)
    which = np.zeros(oa.shape, np.int8)
    for i, (na, ny, nb, dist) in enumerate(planes):
        den = na * da + ny * dy + nb * db
        num = dist - (na * oa + ny * oy + nb * ob)
        t = num / np.where(np.abs(den) < 1e-12, 1e-12, den)
        entering = den < 0
        better = entering & (t > enter)
        enter = np.where(better, t, enter)
        which = np.where(better, i, which)
        leave = np.where(~entering, np.minimum(leave, t), leave)
    s = np.where((enter <= leave) & (enter > NEAR), enter, np.inf)
    return s, which, along


def draw_objects(
    g: GBuffer,
    hit_s: np.ndarray,
    spec: VoxelSpec,
    view: _View,
    prims: Prims,
    blocky: bool,
    depth_of: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Ray-trace `prims` into g where they are nearer than hit_s (updated); depth_of(s) -> G depth."""
    if prims.kind.size == 0:
        return
    T, H, W = hit_s.shape
    boxes = _boxes(prims, view, H, W, spec.view + 8.0)
    # Nearest primitives first: their hits hide the candidate pixels of those behind them.
    for lo, hi in zip(_DEPTH_BINS[:-1], _DEPTH_BINS[1:], strict=True):
        sel = (boxes[-1] >= lo) & (boxes[-1] < hi)
        if sel.any():
            _draw(g, hit_s, spec, view, prims, blocky, depth_of, tuple(b[sel] for b in boxes))


def _draw(
    g: GBuffer,
    hit_s: np.ndarray,
    spec: VoxelSpec,
    view: _View,
    prims: Prims,
    blocky: bool,
    depth_of: Callable[[np.ndarray], np.ndarray],
    boxes: tuple[np.ndarray, ...],
) -> None:
    from v2v.train.raster_voxel import face_coords, lod_coords

    T, H, W = hit_s.shape
    ti, r, c, n = _candidates(boxes, hit_s)
    if ti.size == 0:
        return
    dx, dy, dz = view.rays(ti, r, c)
    o = tuple(view.pos[:, a].astype(np.float32)[ti] for a in range(3))
    d = (dx, dy, dz)
    kind = prims.kind[n]
    s = np.full(ti.shape, np.inf, np.float32)
    axis = np.zeros(ti.shape, np.int8)
    plane = np.full(ti.shape, -1, np.int8)
    lo32, hi32 = prims.lo.astype(np.float32), prims.hi.astype(np.float32)
    c32, r32 = prims.c.astype(np.float32), prims.r.astype(np.float32)
    for k in np.unique(kind):
        sel = kind == k
        ns = n[sel]
        os_, ds = tuple(a[sel] for a in o), tuple(a[sel] for a in d)
        if k == BOX:
            s[sel], axis[sel] = _box(os_, ds, lo32[ns], hi32[ns])
        elif k == ELLIPSOID:
            s[sel] = _ellipsoid(os_, ds, c32[ns], r32[ns])
        elif k == CYLINDER:
            s[sel] = _cylinder(os_, ds, c32[ns], r32[ns])
        else:
            s[sel], plane[sel], along = _house(os_, ds, lo32[ns], hi32[ns], prims.r[ns, 0].astype(np.int64), r32[ns, 1])
            axis[sel] = along
    pix = (ti * H + r) * W + c
    ok = np.isfinite(s) & (s < np.take(hit_s.reshape(-1), pix))
    if not ok.any():
        return
    pix, s, n, kind, axis, plane = pix[ok], s[ok], n[ok], kind[ok], axis[ok], plane[ok]
    ti, r, c = ti[ok], r[ok], c[ok]
    key = (s.astype(np.float32).view(np.int32).astype(np.int64) << 24) | n
    best = np.full(T * H * W, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, pix, key)
    win = best[pix] == key
    pix, s, n, kind, axis, plane, ti = pix[win], s[win], n[win], kind[win], axis[win], plane[win], ti[win]
    r, c = r[win], c[win]
    dx, dy, dz = view.rays(ti, r, c)
    px, py, pz = view.pos[ti, 0] + s * dx, view.pos[ti, 1] + s * dy, view.pos[ti, 2] + s * dz
    nx, ny, nz = _normals(prims, n, kind, axis, plane, (px, py, pz), (dx, dy, dz))
    mat = prims.mat[n].copy()
    inst = prims.inst[n].copy()
    roof = (kind == HOUSE) & (plane >= 5)
    mat[roof], inst[roof] = ROOF, inst[roof] + 1
    wall = (mat == WALL) & (np.abs(ny) < 0.5)
    if wall.any():
        wm = _openings(spec, prims, n[wall], px[wall], py[wall], pz[wall], nx[wall], nz[wall], blocky)
        offset = np.where(wm == DOOR, 3, np.where(wm > 0, 2, 0))  # window oid + 5, door oid + 6
        mat[wall], inst[wall] = np.where(wm > 0, wm, mat[wall]), inst[wall] + offset
    lx, ly, lz = spec.light
    shade = nx * lx + ny * ly + nz * lz
    leafy = (mat == LEAVES) | (mat == PINE)
    shade = np.where(leafy, 0.75 * shade + 0.15, shade)
    a, b = face_coords(px, py, pz, nx, ny, nz)
    tu, tv = (a.astype(np.float32), b.astype(np.float32)) if blocky else lod_coords(a, b, s)
    flat = [x.reshape(-1) for x in (g.mat, g.inst, g.depth, g.shade, g.tu, g.tv)]
    for dst, val in zip(flat, (mat, inst, depth_of(s), shade, tu, tv), strict=True):
        dst[pix] = val
    hit_s.reshape(-1)[pix] = s


def _normals(
    prims: Prims, n: np.ndarray, kind: np.ndarray, axis: np.ndarray, plane: np.ndarray, p: Vec3, d: Vec3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    px, py, pz = p
    nx, ny, nz = np.zeros(n.shape), np.zeros(n.shape), np.zeros(n.shape)
    box = kind == BOX
    for a, out in enumerate((nx, ny, nz)):
        out[box & (axis == a)] = -np.sign(d[a][box & (axis == a)])
    ell = kind == ELLIPSOID
    if ell.any():
        c, rad = prims.c[n[ell]], prims.r[n[ell]]
        e = [(q[ell] - c[:, a]) / rad[:, a] ** 2 for a, q in enumerate(p)]
        norm = 1.0 / np.sqrt(e[0] ** 2 + e[1] ** 2 + e[2] ** 2)
        nx[ell], ny[ell], nz[ell] = e[0] * norm, e[1] * norm, e[2] * norm
    cyl = kind == CYLINDER
    if cyl.any():
        c, rad = prims.c[n[cyl]], prims.r[n[cyl]]
        nx[cyl], nz[cyl] = (px[cyl] - c[:, 0]) / rad[:, 0], (pz[cyl] - c[:, 2]) / rad[:, 0]
    hs = kind == HOUSE
    if hs.any():
        pl, along = plane[hs], axis[hs]
        h = 1.0 / math.sqrt(2.0)
        n_along = np.select([pl == 0, pl == 1], [-1.0, 1.0], 0.0)
        n_across = np.select([pl == 2, pl == 3, pl == 5, pl == 6], [-1.0, 1.0, -h, h], 0.0)
        n_y = np.select([pl == 4, pl >= 5], [-1.0, h], 0.0)
        nx[hs] = np.where(along == 0, n_along, n_across)
        nz[hs] = np.where(along == 0, n_across, n_along)
        ny[hs] = n_y
    return nx, ny, nz


def _openings(
    spec: VoxelSpec,
    prims: Prims,
    n: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    nx: np.ndarray,
    nz: np.ndarray,
    blocky: bool,
) -> np.ndarray:
    """Material of the windows and doors at wall hits (0 on plain wall)."""
    xface = np.abs(nx) > 0.5
    lo, hi = prims.lo[n], prims.hi[n]
    along_abs = np.where(xface, pz, px)
    along = along_abs - np.where(xface, lo[:, 2], lo[:, 0])
    length = np.where(xface, hi[:, 2] - lo[:, 2], hi[:, 0] - lo[:, 0])
    v = py - (lo[:, 1] + 1.0)
    cell = np.floor(along)
    fu = along - cell
    inner = np.ones(n.shape, bool) if blocky else (fu > 0.15) & (fu < 0.85) & (v > 1.15) & (v < 1.85)
    window = (np.mod(cell, 2) == 1) & (cell >= 1) & (cell <= length - 2) & (v >= 1) & (v < 2) & inner
    door_axis, door_face, door_at = prims.door[n, 0], prims.door[n, 1], prims.door[n, 2]
    face_pos = np.where(xface, px, pz)
    on_face = (np.where(xface, 0.0, 2.0) == door_axis) & (np.abs(face_pos - door_face) < 1e-3)
    door_inner = np.ones(n.shape, bool) if blocky else (fu > 0.1) & (fu < 0.9) & (v < 1.9)
    door = on_face & (np.floor(along_abs) == np.floor(door_at)) & (v >= -0.5) & (v < 2) & door_inner
    face_id = np.where(xface, np.where(nx > 0, 1, 0), np.where(nz > 0, 3, 2))
    lit = hash01(spec.seed, 140, prims.inst[n] * 64 + face_id * 16 + cell.astype(np.int64)) < 0.55
    mat = np.where(window, np.where(lit, WINDOW_LIT, WINDOW), 0)
    return np.where(door, DOOR, mat).astype(np.uint8)


class ShadowMap:
    """Footprints of crowns and houses, shifted away from the sun onto the ground, on a grid of
    RES blocks; lookup gives 0 (lit) .. 1 (in shadow) at world points."""

    RES = 0.25

    def __init__(self, spec: VoxelSpec, prims: Prims, x0: float, x1: float, z0: float, z1: float, blocky: bool) -> None:
        self.blocky = blocky
        self.i0, self.j0 = math.floor(x0 / self.RES), math.floor(z0 / self.RES)
        nx, nz = math.floor(x1 / self.RES) - self.i0 + 2, math.floor(z1 / self.RES) - self.j0 + 2
        self.map = np.zeros((nx, nz), np.float32)
        lx, ly, lz = spec.light
        casters = np.flatnonzero(np.isin(prims.mat, (LEAVES, PINE)) | (prims.mat == WALL))
        if casters.size == 0 or ly <= 0.05:
            return
        lo, hi = prims.lo[casters], prims.hi[casters]
        cx, cz = (lo[:, 0] + hi[:, 0]) / 2, (lo[:, 2] + hi[:, 2]) / 2
        ground = terrain(spec, cx, cz)
        lift = np.clip(((lo[:, 1] + hi[:, 1]) / 2 - ground) / ly, 0.0, 10.0)
        ox, oz = -lx * lift, -lz * lift
        if blocky:
            ox, oz = np.round(ox / self.RES) * self.RES, np.round(oz / self.RES) * self.RES
        round_ = ~blocky & (prims.mat[casters] != WALL)
        for m in range(casters.size):
            self._stamp(lo[m, 0] + ox[m], hi[m, 0] + ox[m], lo[m, 2] + oz[m], hi[m, 2] + oz[m], bool(round_[m]))

    def _stamp(self, xa: float, xb: float, za: float, zb: float, disc: bool) -> None:
        R = self.RES
        ia = max(math.floor(xa / R) - self.i0 - 1, 0)
        ib = min(math.floor(xb / R) - self.i0 + 2, self.map.shape[0])
        ja = max(math.floor(za / R) - self.j0 - 1, 0)
        jb = min(math.floor(zb / R) - self.j0 + 2, self.map.shape[1])
        if ia >= ib or ja >= jb:
            return
        x = (np.arange(ia, ib) + self.i0 + 0.5)[:, None] * R
        z = (np.arange(ja, jb) + self.j0 + 0.5)[None, :] * R
        if disc:
            rx, rz = (xb - xa) / 2, (zb - za) / 2
            d = np.sqrt(((x - (xa + xb) / 2) / rx) ** 2 + ((z - (za + zb) / 2) / rz) ** 2)
            val = np.clip((1.0 - d) * rx / 0.5 + 0.5, 0.0, 1.0)
        else:
            val = ((x >= xa) & (x < xb) & (z >= za) & (z < zb)).astype(np.float32)
        np.maximum(self.map[ia:ib, ja:jb], val, out=self.map[ia:ib, ja:jb])

    def lookup(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Shadow 0..1 (float32) at world points x, z."""
        u = x * np.float32(1.0 / self.RES) - np.float32(0.5 + self.i0)
        v = z * np.float32(1.0 / self.RES) - np.float32(0.5 + self.j0)
        nx, nz = self.map.shape
        if self.blocky:
            i = np.clip(np.floor(u + 0.5), 0, nx - 1)
            j = np.clip(np.floor(v + 0.5), 0, nz - 1)
            return np.take(self.map.reshape(-1), (i * nz + j).astype(np.int64))
        m = self.map
        corners = np.stack([m[:-1, :-1], m[1:, :-1], m[:-1, 1:], m[1:, 1:]], axis=-1).reshape(-1, 4)
        i = np.clip(np.floor(u), 0, nx - 2)
        j = np.clip(np.floor(v), 0, nz - 2)
        fu, fv = u - i, v - j
        q = np.take(corners, (i * (nz - 1) + j).astype(np.int64), axis=0)
        top = q[..., 0] + (q[..., 1] - q[..., 0]) * fu
        return top + (q[..., 2] + (q[..., 3] - q[..., 2]) * fu - top) * fv
