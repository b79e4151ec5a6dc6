"""Rasterise a VoxelSpec into a GBuffer: first-person voxel-space column casting, vectorised over
frames and pixels.

Camera. A pinhole with focal length F_SCALE * H pixels looks along the horizontal direction `fwd`
(yaw); pitch is a vertical shear, so the horizon is the row yh = H/2 + F * pitch and every column
of pixels is one vertical plane of rays. The ray of pixel (row r, column c) is
d = fwd + sx * right + sy * up with sx = (c + 0.5 - W/2) / F, sy = (yh - r - 0.5) / F; its parameter
s is the depth along `fwd`, so a point at depth s and height y shows on row yh - F (y - eye_y) / s.

Terrain. Each column is cast front to back (voxel_cast.py): smooth mode samples the heightfield at
depths growing by 2 % per step and interpolates between samples; blocky mode visits every block
column the ray crosses (a 2-D grid walk), with exact vertical faces and flat tops. A sample covers the rows from
its top down to the highest row of the samples in front of it (running minimum); np.repeat turns
those row counts into a per-pixel sample index, and each pixel then solves for its exact hit. Behind
the view distance a far skyline (hills, or mountains) closes the world, then the sky: clouds on a
plane, the sun. Trees and houses are ray-traced primitives (voxel_objects.py) depth-tested against it.

Shape letters: T frames, H/W pixels, K samples per column.
"""

from __future__ import annotations

import math

import numpy as np

from v2v.train.scenes import CLOUD, CLOUD_DEPTH, DIRT, GRASS, ROCK, SKY, SKY_DEPTH, SNOW, SUN, GBuffer, hash01
from v2v.train.voxel import CLOUD_ALT, VoxelSpec, camera_pose, height_grid
from v2v.train.voxel_cast import BlockyCast, SmoothCast
from v2v.train.voxel_objects import ShadowMap, draw_objects
from v2v.train.voxel_props import objects

F_SCALE = 0.9  # focal length, units of H
SUN_RADIUS = 0.055  # units of H, as in the side view
FAR_DEPTH = 19.5  # G-buffer depth of the far skyline (styles haze up to depth 20)


def lod_coords(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smooth-mode texture coordinates of world coordinates (a, b) seen at depth s: one unit is three
    blocks near the camera, doubling every octave of depth beyond 4 blocks (mip levels), so texels
    stay about a pixel wide at 256 px height."""
    level = np.clip(np.frexp(np.asarray(s, np.float32) * np.float32(0.25))[1] - 1, 0, 5)
    inv = np.ldexp(np.float32(1.0 / 3.0), -level)
    return (a * inv).astype(np.float32), (b * inv).astype(np.float32)


def face_coords(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two world coordinates that lie in a surface with normal n (the dominant axis picks)."""
    ax, ay, az = np.abs(nx), np.abs(ny), np.abs(nz)
    top = (ay >= ax) & (ay >= az)
    xface = ~top & (ax >= az)
    a = np.where(top, px, np.where(xface, pz, px))
    b = np.where(top, pz, -py)
    return a, b


def rasterize_voxel(spec: VoxelSpec, start: int, frames: int, size: tuple[int, int], blocky: bool) -> GBuffer:
    """G-buffer of frames start .. start+frames-1 at size (W, H); blocky puts the world on blocks."""
    W, H = size
    T = frames
    t = np.arange(start, start + frames, dtype=np.float64)
    pos, yaw, pitch = camera_pose(spec, t)
    F = F_SCALE * H
    yh = H / 2 + F * pitch  # [T] horizon row
    fwd = np.stack([np.cos(yaw), np.sin(yaw)], axis=1)  # [T, 2] (x, z)
    right = np.stack([-fwd[:, 1], fwd[:, 0]], axis=1)
    sx = (np.arange(W) + 0.5 - W / 2) / F  # [W]
    dxz = fwd[:, None, :] + sx[None, :, None] * right[:, None, :]  # [T, W, 2]
    R = spec.view
    reach = R * math.sqrt(1.0 + float(sx[-1]) ** 2) + 2.0
    region = (pos[:, 0].min() - reach, pos[:, 0].max() + reach, pos[:, 2].min() - reach, pos[:, 2].max() + reach)
    grid = height_grid(spec, *region)
    prims = objects(spec, *region, blocky, grid)
    shadow = ShadowMap(spec, prims, *region, blocky)
    cast = (BlockyCast if blocky else SmoothCast)(spec, grid, pos, dxz, R)
    rtop = yh[:, None, None] + F * (pos[:, 1, None, None] - cast.top_h) / cast.top_s
    first = np.clip(np.ceil(rtop - 0.5), 0, H).astype(np.int32)  # [T, W, K]
    first[~cast.valid] = H
    K = first.shape[2]
    far_h = _far_height(spec, yaw[:, None] + np.arctan(sx)[None, :], blocky)  # [T, W]
    far_s = 3.0 * R / np.sqrt(1.0 + sx * sx)  # [W]
    far_top = yh[:, None] + F * (pos[:, 1, None] - far_h) / far_s[None, :]
    first = np.concatenate(
        [first, np.clip(np.ceil(far_top - 0.5), 0, H).astype(np.int32)[..., None]], axis=2
    )  # [T, W, K + 1]
    runmin = np.minimum.accumulate(first, axis=2)
    prev = np.concatenate([np.full((T, W, 1), H, np.int32), runmin[..., :-1]], axis=2)
    lengths = np.concatenate([prev - runmin, runmin[..., -1:]], axis=2).ravel()  # [T*W*(K+2)], sky last
    entry = np.flatnonzero(lengths)  # the (frame, column, sample) that show on screen
    e = np.repeat(np.arange(entry.size, dtype=np.int32), lengths[entry])
    e = np.ascontiguousarray(e.reshape(T, W, H)[:, :, ::-1].transpose(0, 2, 1))  # [T, H, W]
    ek = entry % (K + 2)
    land = ek < K
    floats = np.zeros((entry.size, cast.channels), np.float32)
    ints = np.zeros(entry.size, np.int32)
    flat = entry[land] // (K + 2) * K + ek[land]  # into [T, W, K]
    floats[land], ints[land] = cast.attributes(spec, shadow, flat)
    k = np.take(ek.astype(np.int32), e)  # [T, H, W]
    row = np.arange(H, dtype=np.float64)[None, :, None]
    view = _View(pos, yaw, yh, F, fwd, right, sx, W, H)
    g = GBuffer(
        mat=np.empty((T, H, W), np.uint8),
        inst=np.empty((T, H, W), np.int32),
        depth=np.empty((T, H, W), np.float32),
        shade=np.empty((T, H, W), np.float32),
        tu=np.empty((T, H, W), np.float32),
        tv=np.empty((T, H, W), np.float32),
        elev=((yh[:, None, None] - row - 0.5) / H).astype(np.float32),
        sun=np.zeros((T, 3), np.float32),
        water_row=(yh - 0.5 if spec.water else np.full(T, np.nan)).astype(np.float32),
        t=t,
        blocky=blocky,
    )
    hit_s = np.empty((T, H, W), np.float32)
    planar = np.ascontiguousarray(floats.T)  # [C, entries]
    for i in range(T):  # frame by frame: the per-pixel arrays stay in cache
        hit_s[i] = _shade_terrain(g, i, spec, view, planar, ints, e[i], blocky)
    _shade_far(g, spec, view, k == K, far_s, blocky)
    sky = k == K + 1
    hit_s[sky] = np.inf
    _shade_sky(g, spec, view, sky, blocky)
    draw_objects(g, hit_s, spec, view, prims, blocky, lambda s: _depth(spec, s))
    return g


class _View:
    """Per-frame camera of a chunk; per-frame values broadcast as [T, 1, 1], columns as [T, 1, W]."""

    def __init__(
        self,
        pos: np.ndarray,  # [T, 3] camera positions
        yaw: np.ndarray,  # [T] radians
        yh: np.ndarray,  # [T] horizon row
        F: float,  # focal length, pixels
        fwd: np.ndarray,  # [T, 2] forward (x, z)
        right: np.ndarray,  # [T, 2] right (x, z)
        sx: np.ndarray,  # [W] column slopes
        W: int,
        H: int,
    ) -> None:
        self.pos, self.yaw, self.yh, self.F = pos, yaw, yh, F
        self.fwd, self.right, self.sx, self.W, self.H = fwd, right, sx, W, H
        b = lambda a: a[:, None, None].astype(np.float32)  # noqa: E731
        self.o = (b(pos[:, 0]), b(pos[:, 1]), b(pos[:, 2]))  # [T, 1, 1]
        f32 = lambda a: a.astype(np.float32)  # noqa: E731
        self.dx = f32(fwd[:, 0, None] + sx[None, :] * right[:, 0, None])[:, None, :]  # [T, 1, W]
        self.dz = f32(fwd[:, 1, None] + sx[None, :] * right[:, 1, None])[:, None, :]
        self.dy = f32((yh[:, None] - np.arange(H)[None, :] - 0.5)[:, :, None] / F)  # [T, H, 1]

    def rays(self, ti: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ray direction (dx, dy, dz) of pixels (frame ti, row r, column c; int arrays), float32."""
        col = ti * self.W + c
        return (
            np.take(self.dx.reshape(-1), col),
            np.take(self.dy.reshape(-1), ti * self.H + r),
            np.take(self.dz.reshape(-1), col),
        )


def _depth(spec: VoxelSpec, s: np.ndarray) -> np.ndarray:
    """G-buffer depth of view depth s: 1 at the eye, FAR_DEPTH - 0.5 at the view distance, growing
    with the square of the distance (so the styles' haze stays light in the middle distance)."""
    x = np.minimum(s, spec.view) / spec.view
    return (1.0 + (FAR_DEPTH - 1.5) * x * (0.3 + 0.7 * x)).astype(np.float32)


def _shade_terrain(
    g: GBuffer, i: int, spec: VoxelSpec, view: _View, planar: np.ndarray, ints: np.ndarray, e: np.ndarray, blocky: bool
) -> np.ndarray:
    """Exact hit of each pixel of frame i against its terrain sample (e [H, W] indexes the casts'
    attributes: planar [C, entries], ints [entries]), written to g; returns the hit depth [H, W]."""
    ox, oy, oz = (o[i] for o in view.o)
    dx, dy, dz = view.dx[i], view.dy[i], view.dz[i]
    f = [np.take(ch, e) for ch in planar]
    code = np.take(ints, e)
    mat = (code & 31).astype(np.uint8)
    inst = code >> 8
    if blocky:
        s_in, s_out, hc, top_shade, front_shade = f
        face = (code >> 5) & 3
        front = (oy + dy * s_in <= hc) & (face < 3)
        s = np.where(front, s_in, np.clip((hc - oy) / np.minimum(dy, np.float32(-1e-9)), s_in, s_out))
        py = oy + dy * s
        grassy = (mat == GRASS) | (mat == SNOW)
        mat = np.where(front & grassy & (py < hc - 0.2), DIRT, mat)
        shade = np.where(front, front_shade, top_shade)
        px, pz = ox + dx * s, oz + dz * s
        tu = np.where(front & (face == 0), pz, px)
        tv = np.where(front, -py, pz)
    else:
        m, c, lo, hi, shade1, shade0 = f
        den = dy - m
        s = np.clip((c - oy) / np.where(np.abs(den) < 1e-6, np.float32(-1e-6), den), lo, hi)
        shade = shade0 + (shade1 - shade0) * ((s - lo) / np.maximum(hi - lo, np.float32(1e-6)))
        tu, tv = lod_coords(ox + dx * s, oz + dz * s, s)
    g.mat[i], g.inst[i], g.shade[i] = mat, inst, shade
    g.depth[i] = _depth(spec, s)
    g.tu[i], g.tv[i] = tu, tv
    return s


def _far_height(spec: VoxelSpec, az: np.ndarray, blocky: bool) -> np.ndarray:
    """Height (blocks) of the far skyline at azimuths `az` [T, W]: hills, or ridged mountains."""
    if blocky:
        az = (np.floor(az * 96.0) + 0.5) / 96.0
    ph = hash01(spec.seed, 120, np.arange(3)) * 2 * math.pi
    ref = max(spec.water_level, spec.base)
    if spec.mountains:
        m = sum(a * (1.0 - np.abs(np.sin(n * az + p))) for a, n, p in zip((0.5, 0.3, 0.2), (3, 7, 17), ph, strict=True))
        h = ref + 8.0 + 32.0 * m
    else:
        m = sum(a * np.sin(n * az + p) for a, n, p in zip((0.5, 0.3, 0.2), (4, 9, 19), ph, strict=True))
        h = ref + 4.0 + 4.0 * m
    return np.floor(h / 2.0) * 2.0 if blocky else h


def _shade_far(g: GBuffer, spec: VoxelSpec, view: _View, mask: np.ndarray, far_s: np.ndarray, blocky: bool) -> None:
    ti, r, c = np.nonzero(mask)
    if ti.size == 0:
        return
    sy = (view.yh[ti] - r - 0.5) / view.F
    y = view.pos[ti, 1] + sy * far_s[c]
    az = view.yaw[ti] + np.arctan(view.sx[c])
    top = _far_height(spec, az, blocky)
    if spec.mountains:
        mat = np.where(y > max(spec.water_level, spec.base) + 30.0, SNOW, ROCK)
        mat = np.where(top - y < 1.5, np.where(mat == SNOW, SNOW, ROCK), mat)
    else:
        mat = np.full(ti.shape, spec.ground if spec.ground != SNOW else SNOW, np.uint8)
    a, b = az * 3.0 * spec.view, -y
    tu, tv = (a / 2.0, b / 2.0) if blocky else lod_coords(a, b, np.full(ti.shape, 3.0 * spec.view))
    g.mat[mask], g.inst[mask], g.depth[mask] = mat, 3, FAR_DEPTH
    g.shade[mask] = 0.2 + 0.6 * spec.light[1]
    g.tu[mask], g.tv[mask] = tu, tv


def _shade_sky(g: GBuffer, spec: VoxelSpec, view: _View, mask: np.ndarray, blocky: bool) -> None:
    """Sky pixels: direction texture coordinates (stars stay put), the sun, clouds on a plane."""
    T, H, W = g.mat.shape
    k = 8.0 * F_SCALE
    az = view.yaw[:, None, None] + np.arctan(view.sx)[None, None, :]  # [T, 1, W]
    tan_el = view.dy / np.sqrt(1.0 + view.sx * view.sx)[None, None, :]  # [T, H, W]
    g.mat[mask], g.inst[mask], g.depth[mask] = SKY, 0, SKY_DEPTH
    g.shade[mask] = spec.light[1]
    np.copyto(g.tu, (az * k).astype(np.float32), where=mask)
    np.copyto(g.tv, (-tan_el * k).astype(np.float32), where=mask)
    _sun(g, spec, view, mask, blocky)
    rows = int(np.clip(np.ceil(view.yh.max() - 0.02 * view.F), 0, H))  # rows that look up enough
    if rows == 0:
        return
    dy = np.maximum(view.dy[:, :rows], 0.02)  # [T, rows, 1]
    s = (spec.base + CLOUD_ALT - view.o[1]) / dy
    x = view.o[0] + s * view.dx + spec.cloud_speed * g.t[:, None, None]  # [T, rows, W]
    z = view.o[2] + s * view.dz
    cell = 40.0
    far = s >= 450.0
    x, z = np.where(far, 0.0, x), np.where(far, 0.0, z)  # no clouds there; keeps the table small
    ci, cj = np.floor(x / cell), np.floor(z / cell)
    i0, j0 = int(ci.min()), int(cj.min())
    ii, jj = np.meshgrid(np.arange(i0, int(ci.max()) + 1), np.arange(j0, int(cj.max()) + 1), indexing="ij")
    key = ii.astype(np.int64) * 1_000_003 + jj
    table = np.stack([hash01(spec.seed, 130 + n, key) for n in range(4)], axis=-1).astype(np.float32)
    at = ((ci - i0) * table.shape[1] + (cj - j0)).astype(np.int64)
    rnd = list(np.moveaxis(np.take(table.reshape(-1, 4), at, axis=0), -1, 0))
    fx, fz = (x / cell - ci).astype(np.float32), (z / cell - cj).astype(np.float32)
    if blocky:
        fx, fz = np.floor(fx * 12.0) / 12.0 + 1 / 24, np.floor(fz * 12.0) / 12.0 + 1 / 24
        inside = (np.abs(fx - 0.5) < 0.2 + 0.25 * rnd[1]) & (np.abs(fz - 0.5) < 0.15 + 0.3 * rnd[2])
        shade = np.full(fx.shape, 0.8, np.float32)
    else:
        ex, ez = (fx - 0.5) / (0.25 + 0.2 * rnd[1]), (fz - 0.5) / (0.2 + 0.25 * rnd[2])
        e2 = ex * ex + ez * ez
        ex2, ez2 = (fx - 0.35 - 0.3 * rnd[3]) / 0.22, (fz - 0.5) / 0.18
        e2 = np.minimum(e2, ex2 * ex2 + ez2 * ez2)
        inside = e2 < 1.0
        shade = 0.45 + 0.45 * np.sqrt(np.maximum(1.0 - e2, 0.0))
    inside &= (rnd[0] < spec.cloud_p) & (view.dy[:, :rows] > 0.02) & ~far & mask[:, :rows]
    # The styles mirror the sky above the horizon into the water and clamp at the top row; keeping
    # clouds out of the top rows makes that clamped reflection plain sky.
    inside[:, : max(1, H // 24)] = False
    band = (slice(None), slice(0, rows))
    g.mat[band][inside], g.inst[band][inside], g.depth[band][inside] = CLOUD, 2, CLOUD_DEPTH
    g.shade[band][inside] = shade[inside]
    g.tu[band][inside] = (x[inside] / 40.0).astype(np.float32)
    g.tv[band][inside] = (z[inside] / 40.0).astype(np.float32)


def _sun(g: GBuffer, spec: VoxelSpec, view: _View, mask: np.ndarray, blocky: bool) -> None:
    T, H, W = g.mat.shape
    lx, ly, lz = spec.light
    zc = lx * view.fwd[:, 0] + lz * view.fwd[:, 1]
    xc = lx * view.right[:, 0] + lz * view.right[:, 1]
    vis = zc > 0.05
    zc = np.where(vis, zc, 1.0)
    x = np.where(vis, W / 2 + view.F * xc / zc - 0.5, -10.0 * (W + H))
    y = np.where(vis, view.yh - view.F * ly / zc - 0.5, -10.0 * (W + H))
    rad = SUN_RADIUS * H
    g.sun[:] = np.stack([x, y, np.full(T, rad)], axis=1)
    q = max(1.0, 0.03 * H)
    for i in np.flatnonzero(vis):
        r0, r1 = int(max(y[i] - rad - q, 0)), int(min(y[i] + rad + q + 1, H))
        c0, c1 = int(max(x[i] - rad - q, 0)), int(min(x[i] + rad + q + 1, W))
        if r0 >= r1 or c0 >= c1:
            continue
        ddy = np.arange(r0, r1, dtype=np.float32)[:, None] - y[i]
        ddx = np.arange(c0, c1, dtype=np.float32)[None, :] - x[i]
        if blocky:
            ddx, ddy = (np.floor(ddx / q) + 0.5) * q, (np.floor(ddy / q) + 0.5) * q
            disc = (np.abs(ddx) < 0.8 * rad) & (np.abs(ddy) < 0.8 * rad)
        else:
            disc = ddx * ddx + ddy * ddy < rad * rad
        disc = disc & mask[i, r0:r1, c0:c1]
        box = (i, slice(r0, r1), slice(c0, c1))
        g.mat[box][disc], g.inst[box][disc], g.depth[box][disc] = SUN, 1, SKY_DEPTH * 0.9
        g.shade[box][disc] = 1.0
        g.tu[box][disc] = np.broadcast_to(ddx / rad, disc.shape)[disc]
        g.tv[box][disc] = np.broadcast_to(ddy / rad, disc.shape)[disc]
