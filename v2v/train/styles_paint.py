"""Painted and glowing styles: oil painting, watercolor and neon, each one function of a GBuffer
(raster.py, raster_voxel.py, topdown.py) like the styles in styles.py.

Brush strokes, washes and grain are attached to the surfaces (texture coordinates tu/tv) so they
move with the world; paper and canvas grain stay on the frame, as they would on a painted frame.

Shape letters: T frames, H/W pixels. Colours are float32 RGB in 0..1 until the final uint8.
"""

from __future__ import annotations

import numpy as np

from v2v.train.scenes import (
    BIRD,
    BOAT,
    CLOUD,
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
    SAND,
    SKY,
    SNOW,
    SUN,
    TRUNK,
    WALL,
    WATER,
    WINDOW,
    WINDOW_LIT,
    WOOL,
    GBuffer,
    Lighting,
)
from v2v.train.styles import (
    _SKY,
    _blend_water,
    _box_blur,
    _edges,
    _palette,
    _sample,
    _sky_gradient,
    _sun_dist,
    _textures,
    _to_uint8,
)

_OIL = {
    SKY: (0.36, 0.56, 0.86),
    SUN: (1.0, 0.93, 0.62),
    CLOUD: (0.98, 0.94, 0.86),
    ROCK: (0.56, 0.49, 0.46),
    SNOW: (0.95, 0.95, 1.0),
    GRASS: (0.36, 0.6, 0.17),
    SAND: (0.92, 0.76, 0.44),
    WATER: (0.1, 0.34, 0.62),
    TRUNK: (0.44, 0.26, 0.13),
    LEAVES: (0.2, 0.5, 0.14),
    PINE: (0.1, 0.36, 0.24),
    WALL: (0.92, 0.8, 0.58),
    ROOF: (0.74, 0.27, 0.14),
    WINDOW: (0.24, 0.34, 0.52),
    WINDOW_LIT: (0.24, 0.34, 0.52),
    DOOR: (0.42, 0.22, 0.1),
    WOOL: (0.96, 0.92, 0.84),
    PIG: (0.95, 0.6, 0.58),
    COW: (0.36, 0.22, 0.13),
    HORSE: (0.62, 0.38, 0.18),
    BIRD: (0.14, 0.12, 0.16),
    BOAT: (0.62, 0.34, 0.16),
    SAIL: (0.98, 0.95, 0.86),
    DARK: (0.2, 0.15, 0.16),
    DIRT: (0.56, 0.37, 0.2),
}
_WASH = {
    SKY: (0.55, 0.72, 0.92),
    SUN: (1.0, 0.95, 0.75),
    CLOUD: (1.0, 1.0, 1.0),
    ROCK: (0.6, 0.58, 0.6),
    SNOW: (0.97, 0.98, 1.0),
    GRASS: (0.48, 0.68, 0.32),
    SAND: (0.9, 0.8, 0.58),
    WATER: (0.3, 0.55, 0.75),
    TRUNK: (0.5, 0.35, 0.25),
    LEAVES: (0.34, 0.6, 0.3),
    PINE: (0.22, 0.46, 0.4),
    WALL: (0.92, 0.85, 0.72),
    ROOF: (0.8, 0.38, 0.3),
    WINDOW: (0.38, 0.48, 0.62),
    WINDOW_LIT: (0.38, 0.48, 0.62),
    DOOR: (0.52, 0.34, 0.24),
    WOOL: (0.96, 0.95, 0.92),
    PIG: (0.95, 0.7, 0.7),
    COW: (0.45, 0.33, 0.25),
    HORSE: (0.66, 0.46, 0.3),
    BIRD: (0.3, 0.3, 0.35),
    BOAT: (0.65, 0.45, 0.3),
    SAIL: (1.0, 1.0, 0.97),
    DARK: (0.35, 0.3, 0.32),
    DIRT: (0.62, 0.47, 0.33),
}
_NEON_CYAN = np.asarray((0.1, 0.95, 1.0), np.float32)
_NEON_MAGENTA = np.asarray((1.0, 0.18, 0.85), np.float32)
_NEON_LIGHTS = np.asarray([(1.0, 0.25, 0.75), (0.15, 0.9, 1.0), (1.0, 0.75, 0.25), (0.6, 0.3, 1.0)], np.float32)


def _screen(g: GBuffer) -> tuple[np.ndarray, np.ndarray]:
    """Frame coordinates in units of H: x [1, 1, W], y [1, H, 1] (paper and canvas grain)."""
    T, H, W = g.mat.shape
    return (np.arange(W, dtype=np.float32)[None, None, :] / H, np.arange(H, dtype=np.float32)[None, :, None] / H)


def _lum(col: np.ndarray) -> np.ndarray:
    return col @ np.asarray((0.3, 0.55, 0.15), np.float32)


def _wide_blur(x: np.ndarray, r: int) -> np.ndarray:
    """A wide box blur of x [T, H, W] (radius about r px), computed at quarter resolution."""
    T, H, W = x.shape
    p = np.pad(x, ((0, 0), (0, (-H) % 4), (0, (-W) % 4)))
    q = p.reshape(T, p.shape[1] // 4, 4, p.shape[2] // 4, 4).mean(axis=(2, 4))
    q = _box_blur(_box_blur(q, max(1, r // 4)), max(1, r // 4))
    return np.repeat(np.repeat(q, 4, axis=1), 4, axis=2)[:, :H, :W]


def _near_sun(g: GBuffer, reach: float) -> bool:
    """Whether the sun is within `reach` (units of H) of the frame in any frame."""
    T, H, W = g.mat.shape
    x, y = g.sun[:, 0] / H, g.sun[:, 1] / H
    return bool(np.any((x > -reach) & (x < W / H + reach) & (y > -reach) & (y < 1 + reach)))


def oil(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Oil painting: brush strokes that follow the forms, thick paint catching the light, warm
    lights and cool shadows in a few broad values, a rich impasto palette, canvas weave."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    zen, hor, light_rgb = _SKY[scene.time_of_day]
    light = np.asarray(light_rgb, np.float32)
    sh = np.clip(g.shade, -0.3, 1.0)
    tone = 0.5 + 0.55 * (0.6 * (np.floor(sh * 4.0 + 0.5) / 4.0) + 0.4 * sh)  # broad painted values
    col = np.take(_OIL_PAL * (0.75 + 0.25 * light), g.mat, axis=0)  # [T, H, W, 3]
    col *= tone[..., None]
    col += _COOL * (0.25 * (1.0 - tone))[..., None]
    sky = _sky_gradient(g, zen, hor) * np.float32(1.05)  # [T, H, 1, 3]
    open_sky = g.mat == SKY
    a = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 30.0, 0.0, 0.45), 1.0)
    a[~open_sky & (g.depth >= 20.0)] = 0.0
    col += (sky - col) * a[..., None]
    # Strokes: along the outlines of the forms where they are near, else a slow swirl of directions.
    lum = _box_blur(_lum(col), max(1, H // 48))
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :, 1:-1] = lum[:, :, 2:] - lum[:, :, :-2]
    gy[:, 1:-1] = lum[:, 2:] - lum[:, :-2]
    swirl = (_sample(fbm, g.tu, g.tv, 6.0) - 0.5) * 2.5
    strength = np.clip(np.hypot(gx, gy) * 40.0, 0.0, 1.0)
    strength[open_sky | (g.mat == WATER)] = 0.0
    flat = np.where(open_sky | (g.mat == WATER), 0.15, 1.0) * swirl
    theta = (1 - strength) * flat + strength * (np.arctan2(gy, gx) + np.float32(np.pi / 2))
    c, s = np.cos(theta), np.sin(theta)
    along = (c * g.tu + s * g.tv) * 9.0
    across = (-s * g.tu + c * g.tv) * 40.0
    row = np.floor(across)
    stroke = _sample(white, along + row * 0.37, row, 1.0)  # one value per dab
    bristle = _sample(fbm, along * 2.0, across * 8.0, 1.0)
    ridge = np.abs(across - row - 0.5) * 2.0  # 0 at a dab's spine
    x, y = _screen(g)
    edge = _edges(g, thick=2 if H >= 192 else 1) & (_sample(white, g.tu, g.tv, 30.0) > 0.35)
    m = (1.0 + 0.12 * (0.5 - ridge) + 0.16 * (bristle - 0.5)) * (0.94 + 0.12 * stroke)
    m *= (1.0 - 0.3 * edge) * (1.0 + 0.025 * np.sin(x * H * 2.2) * np.sin(y * H * 2.2))
    grey = _lum(col)[..., None]
    col -= grey
    col *= np.float32(1.35)  # saturated pigments
    col += grey
    col *= m[..., None]
    col += (stroke - 0.5)[..., None] * _JITTER
    if _near_sun(g, 0.5):
        col += (0.25 * np.exp(-((_sun_dist(g) / 0.14) ** 2)))[..., None] * light
    sun = g.mat == SUN
    col[sun] = _OIL_PAL[SUN]
    _blend_water(col, g, 0.45, 3.0, tint=np.asarray((0.85, 0.92, 1.0), np.float32))
    return _to_uint8(col)


def watercolor(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Watercolor: transparent washes on white paper, soft bleeding edges, darker pigment where a
    wash dries at its edge, granulation in the paper's grain, highlights left as bare paper."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    zen, hor, _ = _SKY[scene.time_of_day]
    sh = np.clip(g.shade, 0.0, 1.0)
    density = 0.5 + 0.45 * (1.0 - sh)
    open_sky = g.mat == SKY
    density = np.where(open_sky, 0.3 + 0.4 * np.clip(g.elev / 0.45, 0.0, 1.0), density)
    density[(g.mat == CLOUD) | (g.mat == SUN)] = 0.04
    far = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 20.0, 0.0, 0.5), 0.0)
    density *= (1.0 - far) * (0.8 + 0.4 * _sample(fbm, g.tu, g.tv, 5.0))  # uneven drying
    # Bleeding: each pixel takes its pigment from a point a few pixels away along a noise field,
    # so washes run over their outlines in soft irregular fringes; the density is blurred too.
    r = max(1, H // 64)
    ti = np.arange(T)[:, None, None]
    yi = np.arange(H)[None, :, None]
    xi = np.arange(W)[None, None, :]
    wob = _sample(fbm, g.tu, g.tv, 14.0) - 0.5
    wob2 = _sample(fbm, g.tv + 0.31, g.tu, 14.0) - 0.5
    ys = np.clip(yi + (wob * 4 * r).astype(np.int64), 0, H - 1)
    xs = np.clip(xi + (wob2 * 4 * r).astype(np.int64), 0, W - 1)
    src = g.mat[ti, ys, xs]
    sky_rows = _sky_gradient(g, zen, hor)  # [T, H, 1, 3]
    pigment = np.take(_WASH_PAL, src, axis=0)  # [T, H, W, 3]
    sky_src = src == SKY
    if sky_src.any():
        pigment[sky_src] = np.broadcast_to(sky_rows, pigment.shape)[sky_src]
    density = _box_blur(density, r) * 0.6 + density * 0.4
    rim = _box_blur(_edges(g).astype(np.float32), max(1, H // 128))
    density += 0.35 * np.clip(rim * 2.0, 0.0, 1.0) * (1.0 - far)  # pigment piles up at edges
    x, y = _screen(g)
    grain = _sample(white, x, y, 160.0) * 0.5 + _sample(fbm, x, y, 40.0) * 0.5
    density *= 0.7 + 0.6 * grain
    paper = 0.93 + 0.05 * _sample(fbm, x, y, 24.0)  # [1, H, W]
    d = np.clip(density, 0.0, 0.95)[..., None]
    col = pigment - 1.0
    col *= d
    col += 1.0
    col *= paper[..., None] * _PAPER
    _blend_water(col, g, 0.3, 3.0)
    return _to_uint8(col)


def neon(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Neon (cyberpunk night): a dark scene, glowing magenta and cyan lines on every outline,
    emissive windows in neon colours, a striped synthwave sun, bloom around all light."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    col = np.take(_NEON_PAL, g.mat, axis=0)  # [T, H, W, 3]
    col *= (0.6 + 0.5 * np.clip(g.shade, 0.0, 1.0))[..., None]
    sky = _sky_gradient(g, (0.02, 0.0, 0.06), (0.3, 0.04, 0.3))  # [T, H, 1, 3]
    cloud = g.mat == CLOUD
    open_sky = (g.mat == SKY) | cloud
    haze = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 25.0, 0.0, 0.6), 0.0)
    haze[open_sky] = 1.0
    col += (sky - col) * haze[..., None]
    if cloud.any():
        col[cloud] = col[cloud] * 1.6 + 0.02
    star = (g.mat == SKY) & (_sample(white, g.tu, g.tv, 40.0) > 0.995)
    col[star] += 0.5
    sun = g.mat == SUN
    if sun.any():  # the synthwave sun: yellow to magenta, cut by gaps in its lower half
        tv = g.tv[sun]
        f = np.clip(tv * 0.5 + 0.5, 0.0, 1.0)[:, None]
        disc = np.asarray((1.0, 0.85, 0.2), np.float32) * (1 - f) + _NEON_MAGENTA * f
        gap = (tv > 0.0) & (np.mod(tv * 5.0, 1.0) < 0.3)
        col[sun] = np.where(gap[:, None], col[sun], disc)
    # Glowing lines: cyan on the ground, magenta on objects, at every outline; neon windows.
    line = _edges(g, thick=2 if H >= 192 else 1)
    objects = g.inst >= (1 << 24)
    cyan = (line & ~objects).astype(np.float32) * (1.0 - haze)
    cyan[cloud | (g.inst == 2)] *= 0.35
    magenta = (line & objects).astype(np.float32)
    windows = (g.mat == WINDOW) | (g.mat == WINDOW_LIT)
    glow = cyan[..., None] * (0.9 * _NEON_CYAN) + magenta[..., None] * (0.9 * _NEON_MAGENTA)
    if windows.any():
        pick = (g.inst[windows] // 8 + (g.mat[windows] == WINDOW_LIT)) % len(_NEON_LIGHTS)
        flicker = 0.85 + 0.15 * _sample(white, g.tu[windows], g.tv[windows], 2.0)
        col[windows] = _NEON_LIGHTS[pick] * flicker[:, None]
        glow[windows] = 0.0
        magenta = magenta + 1.5 * windows
    col += glow
    water = g.mat == WATER
    col[water] *= 0.6
    if _near_sun(g, 0.6):
        col += (np.exp(-((_sun_dist(g) / 0.2) ** 2)) * 0.35)[..., None] * _NEON_MAGENTA
    r1, r2 = max(1, H // 128), max(2, H // 32)
    bc = 0.3 * _box_blur(cyan, r1) + 0.36 * _wide_blur(cyan, r2)
    bm = 0.3 * _box_blur(magenta, r1) + 0.36 * _wide_blur(magenta, r2)
    col += bc[..., None] * _NEON_CYAN + bm[..., None] * _NEON_MAGENTA
    _blend_water(col, g, 0.6, 2.0, tint=np.asarray((0.7, 0.8, 1.0), np.float32))
    return _to_uint8(col)


_OIL_PAL = _palette(_OIL)
_WASH_PAL = _palette(_WASH)
_NEON_PAL = ((0.35 * _OIL_PAL + 0.65 * _lum(_OIL_PAL)[:, None]) * np.asarray((0.16, 0.12, 0.26), np.float32)).astype(
    np.float32
)
_COOL = np.asarray((0.32, 0.3, 0.55), np.float32)
_JITTER = np.asarray((0.07, 0.05, -0.04), np.float32)
_PAPER = np.asarray((1.0, 0.98, 0.93), np.float32)
__all__ = ["oil", "watercolor", "neon"]
