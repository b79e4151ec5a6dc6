"""Styles: turn a GBuffer (raster.py) into RGB frames. Each style is one function of the G-buffer,
so all styles of a scene share its geometry exactly (blocky quantises the geometry itself).

Shape letters: T frames, H/W pixels. Colours are float32 RGB in 0..1 until the final uint8.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

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
    N_MATERIALS,
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

STYLES: tuple[str, ...] = ("blocky", "realistic", "sketch", "toon", "night", "oil", "watercolor", "neon")


def _palette(colours: dict[int, tuple[float, float, float]]) -> np.ndarray:
    p = np.zeros((N_MATERIALS, 3), np.float32)
    for m, c in colours.items():
        p[m] = c
    return p


_REAL = {
    SKY: (0.5, 0.7, 0.9),
    SUN: (1.0, 0.98, 0.9),
    CLOUD: (0.95, 0.95, 0.96),
    ROCK: (0.46, 0.44, 0.43),
    SNOW: (0.92, 0.94, 0.97),
    GRASS: (0.3, 0.5, 0.2),
    SAND: (0.82, 0.72, 0.5),
    WATER: (0.16, 0.32, 0.42),
    TRUNK: (0.36, 0.25, 0.16),
    LEAVES: (0.22, 0.43, 0.17),
    PINE: (0.12, 0.3, 0.17),
    WALL: (0.78, 0.72, 0.62),
    ROOF: (0.56, 0.25, 0.18),
    WINDOW: (0.3, 0.38, 0.46),
    WINDOW_LIT: (0.3, 0.38, 0.46),
    DOOR: (0.33, 0.21, 0.12),
    WOOL: (0.9, 0.88, 0.84),
    PIG: (0.9, 0.63, 0.6),
    COW: (0.34, 0.24, 0.17),
    HORSE: (0.52, 0.34, 0.2),
    BIRD: (0.14, 0.14, 0.16),
    BOAT: (0.46, 0.3, 0.17),
    SAIL: (0.93, 0.91, 0.86),
    DARK: (0.17, 0.15, 0.14),
    DIRT: (0.45, 0.32, 0.22),
}
_BLOCKY = {
    SKY: (0.47, 0.65, 1.0),
    SUN: (1.0, 1.0, 0.55),
    CLOUD: (1.0, 1.0, 1.0),
    ROCK: (0.5, 0.5, 0.5),
    SNOW: (0.97, 0.99, 1.0),
    GRASS: (0.37, 0.7, 0.18),
    SAND: (0.88, 0.83, 0.56),
    WATER: (0.18, 0.33, 0.9),
    TRUNK: (0.42, 0.3, 0.15),
    LEAVES: (0.2, 0.58, 0.08),
    PINE: (0.14, 0.4, 0.14),
    WALL: (0.74, 0.58, 0.34),
    ROOF: (0.62, 0.26, 0.2),
    WINDOW: (0.66, 0.86, 0.96),
    WINDOW_LIT: (0.66, 0.86, 0.96),
    DOOR: (0.45, 0.32, 0.16),
    WOOL: (0.95, 0.95, 0.95),
    PIG: (0.96, 0.6, 0.62),
    COW: (0.3, 0.2, 0.12),
    HORSE: (0.62, 0.42, 0.22),
    BIRD: (0.1, 0.1, 0.1),
    BOAT: (0.56, 0.4, 0.2),
    SAIL: (1.0, 1.0, 1.0),
    DARK: (0.25, 0.2, 0.17),
    DIRT: (0.55, 0.38, 0.24),
}
_TOON = {
    SKY: (0.35, 0.75, 1.0),
    SUN: (1.0, 0.92, 0.2),
    CLOUD: (1.0, 1.0, 1.0),
    ROCK: (0.6, 0.55, 0.7),
    SNOW: (1.0, 1.0, 1.0),
    GRASS: (0.45, 0.85, 0.25),
    SAND: (1.0, 0.85, 0.45),
    WATER: (0.2, 0.6, 1.0),
    TRUNK: (0.6, 0.35, 0.15),
    LEAVES: (0.25, 0.8, 0.3),
    PINE: (0.1, 0.6, 0.4),
    WALL: (1.0, 0.9, 0.6),
    ROOF: (0.95, 0.3, 0.25),
    WINDOW: (0.5, 0.85, 1.0),
    WINDOW_LIT: (0.5, 0.85, 1.0),
    DOOR: (0.7, 0.4, 0.2),
    WOOL: (1.0, 1.0, 1.0),
    PIG: (1.0, 0.65, 0.75),
    COW: (0.55, 0.35, 0.2),
    HORSE: (0.85, 0.5, 0.2),
    BIRD: (0.3, 0.3, 0.5),
    BOAT: (0.9, 0.5, 0.2),
    SAIL: (1.0, 1.0, 1.0),
    DARK: (0.3, 0.25, 0.3),
    DIRT: (0.7, 0.45, 0.25),
}

_SKY = {  # zenith, horizon, light colour
    "morning": ((0.45, 0.62, 0.88), (0.95, 0.85, 0.75), (1.0, 0.95, 0.86)),
    "noon": ((0.28, 0.5, 0.88), (0.72, 0.83, 0.95), (1.0, 1.0, 1.0)),
    "afternoon": ((0.33, 0.53, 0.86), (0.86, 0.86, 0.84), (1.0, 0.97, 0.9)),
    "sunset": ((0.25, 0.28, 0.52), (1.0, 0.58, 0.32), (1.0, 0.75, 0.55)),
}
_BLOCKY_SKY = {
    "morning": ((0.5, 0.68, 1.0), (0.85, 0.82, 0.9)),
    "noon": ((0.47, 0.65, 1.0), (0.68, 0.8, 1.0)),
    "afternoon": ((0.45, 0.62, 0.98), (0.72, 0.8, 0.95)),
    "sunset": ((0.35, 0.4, 0.75), (0.95, 0.55, 0.3)),
}
_TOON_SKY = {
    "morning": ((0.35, 0.65, 1.0), (0.6, 0.8, 1.0), (1.0, 0.85, 0.7)),
    "noon": ((0.2, 0.6, 1.0), (0.4, 0.75, 1.0), (0.7, 0.9, 1.0)),
    "afternoon": ((0.25, 0.6, 1.0), (0.45, 0.75, 1.0), (0.9, 0.9, 0.85)),
    "sunset": ((0.4, 0.3, 0.7), (0.95, 0.45, 0.45), (1.0, 0.7, 0.3)),
}


@functools.lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, np.ndarray]:
    """Tileable 256x256 textures: fractal (1/f) noise and white noise, both float32 in 0..1."""
    rng = np.random.default_rng(20240601)
    white = rng.random((256, 256)).astype(np.float32)
    f = np.fft.fftfreq(256)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    spectrum = np.fft.fft2(rng.standard_normal((256, 256))) / np.maximum(radius, 1 / 256) ** 1.6
    fbm = np.real(np.fft.ifft2(spectrum))
    fbm = (fbm - fbm.min()) / (fbm.max() - fbm.min())
    return fbm.astype(np.float32), white


def _sample(tex: np.ndarray, tu: np.ndarray, tv: np.ndarray, freq: float) -> np.ndarray:
    iu = np.floor(tu * freq).astype(np.int32) & 255
    iv = np.floor(tv * freq).astype(np.int32) & 255
    return tex[iv, iu]


def _edges(g: GBuffer, thick: int = 1) -> np.ndarray:
    """bool [T, H, W]: pixels whose object id differs from a neighbour (right or below)."""
    inst = g.inst
    e = np.zeros(inst.shape, bool)
    dx = inst[:, :, 1:] != inst[:, :, :-1]
    dy = inst[:, 1:, :] != inst[:, :-1, :]
    e[:, :, 1:] |= dx
    e[:, 1:, :] |= dy
    if thick > 1:
        e[:, :, :-1] |= dx
        e[:, :-1, :] |= dy
    return e


def _box_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 box on axes 1, 2 of x [T, H, W], edges clamped."""
    for axis in (1, 2):
        n = x.shape[axis]
        pad = [(0, 0)] * 3
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(x, pad, mode="edge"), axis=axis, dtype=np.float32)
        hi = [slice(None)] * 3
        lo = [slice(None)] * 3
        hi[axis], lo[axis] = slice(2 * r + 1, 2 * r + 1 + n), slice(0, n)
        x = (c[tuple(hi)] - c[tuple(lo)]) / (2 * r + 1)
    return x


def _sky_gradient(g: GBuffer, zen: tuple[float, ...], hor: tuple[float, ...], steps: int = 0) -> np.ndarray:
    """[T, H, 1, 3] sky colour per row; `steps` > 0 makes flat bands."""
    f = np.clip(g.elev / 0.45, 0.0, 1.0) ** 0.6
    if steps:
        f = np.floor(f * steps) / (steps - 1) if steps > 1 else f
        f = np.clip(f, 0.0, 1.0)
    return (np.asarray(hor, np.float32) * (1 - f[..., None]) + np.asarray(zen, np.float32) * f[..., None]).astype(
        np.float32
    )


def _sun_dist(g: GBuffer) -> np.ndarray:
    """[T, H, W] distance to the sun centre, units of H."""
    T, H, W = g.mat.shape
    x = np.arange(W, dtype=np.float32)[None, None, :] - g.sun[:, 0, None, None]
    y = np.arange(H, dtype=np.float32)[None, :, None] - g.sun[:, 1, None, None]
    return np.sqrt(x * x + y * y) / H


def _reflect(img: np.ndarray, g: GBuffer, ripple_px: float, quant: float | None = None) -> tuple[slice, np.ndarray]:
    """Mirror of `img` about the lake's shore line for the rows that can hold water.

    Returns (rows, reflection [T, len(rows), W, 3]); the caller blends it where mat == WATER.
    """
    T, H, W = g.mat.shape
    r0 = int(np.clip(np.floor(np.nanmin(g.water_row)), 0, H))
    rows = slice(r0, H)
    fbm, _ = _textures()
    wobble = _sample(fbm, g.tu[:, rows] * 3.0, g.tv[:, rows] * 24.0 + g.t[:, None, None] * 0.02, 8.0)
    y = np.arange(r0, H, dtype=np.float32)[None, :, None]
    src = 2.0 * g.water_row[:, None, None] - y + 1.0 + (wobble - 0.5) * 2.0 * ripple_px
    if quant:
        src = np.floor(src / quant) * quant
    src = np.clip(src, 0, H - 1).astype(np.intp)
    ti = np.arange(T)[:, None, None]
    xi = np.arange(W)[None, None, :]
    return rows, img[ti, src, xi]


def _blend_water(
    col: np.ndarray,
    g: GBuffer,
    refl_weight: float,
    ripple_px: float,
    tint: np.ndarray | None = None,
    quant: float | None = None,
) -> None:
    if np.all(np.isnan(g.water_row)):
        return
    rows, refl = _reflect(col, g, ripple_px, quant)
    water = (g.mat[:, rows] == WATER)[..., None]
    mixed = col[:, rows] * (1 - refl_weight) + refl * refl_weight
    if tint is not None:
        mixed = mixed * tint
    col[:, rows] = np.where(water, mixed, col[:, rows])


def _to_uint8(col: np.ndarray) -> np.ndarray:
    col = col * 255.0
    col += 0.5
    np.clip(col, 0.0, 255.0, out=col)
    return col.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# The styles


def realistic(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Smooth shading lit from the sun, texture noise, soft shadows, haze with distance."""
    fbm, _ = _textures()
    zen, hor, light_rgb = _SKY[scene.time_of_day]
    light = np.asarray(light_rgb, np.float32)
    palette = _palette(_REAL)
    palette[SUN] = light * 0.15 + 0.88
    fine = g.mat.shape[1] / 1.5
    k = 0.76 + 0.3 * _sample(fbm, g.tu, g.tv, fine) + 0.14 * _sample(fbm, g.tu, g.tv, fine / 4)
    k *= 0.5 + 0.6 * np.clip(g.shade, 0.0, 1.0)
    near_obj = (g.inst >= (1 << 24)) & (g.depth < 3.0)
    ground = (g.mat == GRASS) | (g.mat == SAND) | (g.mat == SNOW) | (g.mat == DIRT)
    k *= 1.0 - 0.45 * (_shadow(near_obj, scene) * ground)
    k[g.mat == SUN] = 1.0
    col = np.take(palette, g.mat, axis=0)  # [T, H, W, 3]
    col *= k[..., None] * light
    # Aerial perspective: blend toward the sky colour of the row (and the sun's glow) with depth;
    # the sky itself is the fully blended case.
    glow = np.exp(-((_sun_dist(g) / 0.18) ** 2))  # [T, H, W]
    target = _sky_gradient(g, zen, hor) + (0.3 * glow)[..., None] * light  # [T, H, W, 3]
    a = np.where(g.depth < 20.0, 1.0 - np.exp(-np.maximum(g.depth - 1.0, 0.0) / 14.0), 0.0)
    a[g.mat == SKY] = 1.0
    col += (target - col) * a[..., None].astype(np.float32)
    _blend_water(col, g, 0.6, 2.0, tint=np.asarray((0.8, 0.9, 0.95), np.float32))
    return _to_uint8(col)


def _shadow(obj: np.ndarray, scene: Lighting) -> np.ndarray:
    """Soft shadows [T, H, W] in 0..1 cast by object masks (bool), offset away from the light."""
    T, H, W = obj.shape
    out = np.zeros(obj.shape, np.float32)
    rows = np.flatnonzero(obj.any(axis=(0, 2)))
    if rows.size == 0:
        return out
    dx = int(round(-scene.light[0] * 0.04 * H))
    dy = max(1, int(round(0.015 * H)))
    r = max(1, H // 64)
    r0, r1 = max(0, rows[0] - 2 * r), min(H, rows[-1] + dy + 2 * r + 1)
    shifted = np.zeros((T, r1 - r0, W), np.float32)
    xs = slice(max(dx, 0), W + min(dx, 0))
    xd = slice(max(-dx, 0), W + min(-dx, 0))
    shifted[:, dy:, xs] = obj[:, r0 : r1 - dy, xd]
    out[:, r0:r1] = np.clip(_box_blur(shifted, r) * 1.5, 0.0, 1.0)
    return out


def blocky(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Minecraft-like: voxel geometry, flat saturated palette, 4x4 texels per block, no soft shading."""
    fbm, white = _textures()
    zen, hor = _BLOCKY_SKY[scene.time_of_day]
    light = np.asarray(_SKY[scene.time_of_day][2], np.float32) * 0.3 + 0.7
    base = np.take(_palette(_BLOCKY), g.mat, axis=0)
    texel = _sample(white, g.tu, g.tv, 4.0)
    block = _sample(white, g.tu + 0.5, g.tv + 0.5, 1.0)
    leafy = (g.mat == LEAVES) | (g.mat == PINE)
    tex = 0.84 + 0.22 * texel + 0.06 * block - np.where(leafy & (texel < 0.2), 0.25, 0.0)
    col = base * tex[..., None] * light
    is_sky = (g.mat == SKY)[..., None]
    col = np.where(is_sky, _sky_gradient(g, zen, hor, steps=8), col)
    col = np.where((g.mat == SUN)[..., None], _palette(_BLOCKY)[SUN], col)
    fog = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 25.0, 0.0, 0.5), 0.0)[..., None]
    col = col * (1 - fog) + np.asarray(hor, np.float32) * fog
    _blend_water(col, g, 0.3, 0.0, quant=max(2.0, g.mat.shape[1] / 40))
    return _to_uint8(col)


def toon(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Cel shading: bright flat palette, three light bands, black outlines."""
    fbm, _ = _textures()
    zen, mid, hor = _TOON_SKY[scene.time_of_day]
    base = np.take(_palette(_TOON), g.mat, axis=0)
    band = np.where(g.shade > 0.45, 1.0, np.where(g.shade > 0.0, 0.8, 0.62)).astype(np.float32)
    col = base * band[..., None]
    e = g.elev[..., None]
    sky = np.where(
        e > 0.3,
        np.asarray(zen, np.float32),
        np.where(e > 0.12, np.asarray(mid, np.float32), np.asarray(hor, np.float32)),
    )
    col = np.where((g.mat == SKY)[..., None], sky, col)
    tint = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 14.0, 0.0, 0.55), 0.0)[..., None]
    col = col * (1 - tint) + np.asarray(hor, np.float32) * tint
    water = g.mat == WATER
    ripple = water & (_sample(fbm, g.tu * 2.0, g.tv * 30.0 + g.t[:, None, None] * 0.01, 8.0) > 0.72)
    col = np.where(ripple[..., None], 1.0, col)
    line = _edges(g, thick=2 if g.mat.shape[1] >= 192 else 1)
    col = np.where(line[..., None], 0.05, col)
    return _to_uint8(col)


def sketch(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Pencil on grey paper: dark contour lines, hatching where the lit tone is dark."""
    fbm, white = _textures()
    base = np.take(_palette(_REAL), g.mat, axis=0)
    lum = base @ np.asarray((0.3, 0.55, 0.15), np.float32)
    lum = lum * (0.55 + 0.65 * np.clip(g.shade, 0.0, 1.0))
    open_sky = (g.mat == SKY) | (g.mat == CLOUD) | (g.mat == SUN)
    lum = np.where(open_sky, 1.0, lum * 1.6)
    T, H, W = g.mat.shape
    freq = 0.22 * H / np.maximum(np.minimum(g.depth, 4.0), 1.0) ** 0.3
    a = (g.tu + g.tv) * freq
    b = (g.tu - g.tv) * freq
    h1 = (lum < 0.6) & (np.mod(a, 1.0) < 0.3)
    h2 = (lum < 0.38) & (np.mod(b, 1.0) < 0.3)
    h3 = (lum < 0.2) & (np.mod(g.tv * freq * 0.7, 1.0) < 0.3)
    water = g.mat == WATER
    strokes = water & (np.mod(g.tv * freq * 0.35, 1.0) < 0.25) & (_sample(fbm, g.tu * 4.0, g.tv * 40.0, 4.0) > 0.45)
    ink = 0.45 * h1 + 0.35 * h2 + 0.25 * h3 + 0.5 * strokes
    ink = ink + 0.85 * _edges(g)
    sy = np.arange(H, dtype=np.float32)[None, :, None] / H * 6.0
    sx = np.arange(W, dtype=np.float32)[None, None, :] / H * 6.0
    paper = 0.86 + 0.07 * _sample(fbm, sx, sy, 40.0) + 0.03 * _sample(white, sx, sy, 40.0)
    tone = paper * (0.86 + 0.14 * np.clip(lum, 0.0, 1.0)) * (1.0 - np.clip(ink, 0.0, 0.9))
    col = tone[..., None] * np.asarray((1.0, 0.99, 0.96), np.float32)
    return _to_uint8(col)


def night(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Moonlit: dark blue palette, moon and stars, lit windows, reflections on water."""
    fbm, white = _textures()
    moonlight = np.asarray((0.32, 0.38, 0.62), np.float32)
    palette = _palette(_REAL)
    grey = palette @ np.asarray((0.3, 0.55, 0.15), np.float32)
    palette = (0.5 * palette + 0.5 * grey[:, None]) * moonlight
    palette[CLOUD] = (0.14, 0.16, 0.24)
    palette[SUN] = (0.95, 0.95, 0.88)
    palette[WINDOW_LIT] = (1.0, 0.8, 0.4)
    tex = _sample(fbm, g.tu, g.tv, 40.0)
    k = (0.25 + 0.45 * np.clip(g.shade, 0.0, 1.0)) * (0.8 + 0.3 * tex)
    k[g.mat == CLOUD] *= 2.0
    bright = (g.mat == SUN) | (g.mat == WINDOW_LIT)
    k[bright] = 0.82 + 0.18 * np.where(g.mat[bright] == SUN, tex[bright], 1.0)
    col = np.take(palette, g.mat, axis=0)  # [T, H, W, 3]
    col *= k[..., None]
    zen, hor = (0.01, 0.02, 0.07), (0.06, 0.09, 0.2)
    glow = np.exp(-((_sun_dist(g) / 0.09) ** 2))  # [T, H, W]
    star = (_sample(white, g.tu, g.tv, 40.0) > 0.993) & (g.elev > 0.04)
    target = _sky_gradient(g, zen, hor) + (glow + 0.8 * star)[..., None] * np.asarray((0.3, 0.32, 0.38), np.float32)
    a = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 20.0, 0.0, 0.6), 0.0)
    a[g.mat == SKY] = 1.0
    a[g.mat == CLOUD] = 0.3
    col += (target - col) * a[..., None].astype(np.float32)
    lit_win = g.mat == WINDOW_LIT
    if lit_win.any():
        halo = _box_blur(lit_win.astype(np.float32), max(1, g.mat.shape[1] // 96))
        col += halo[..., None] * np.asarray((0.5, 0.35, 0.12), np.float32)
    _blend_water(col, g, 0.55, 2.0, tint=np.asarray((0.7, 0.8, 1.0), np.float32))
    return _to_uint8(col)


import v2v.train.styles_paint as _paint  # noqa: E402  (the painted styles build on the helpers above)


def oil(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Oil painting (styles_paint.oil)."""
    return _paint.oil(g, scene)


def watercolor(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Watercolor (styles_paint.watercolor)."""
    return _paint.watercolor(g, scene)


def neon(g: GBuffer, scene: Lighting) -> np.ndarray:
    """Neon cyberpunk night (styles_paint.neon)."""
    return _paint.neon(g, scene)


STYLE_FUNCS: dict[str, Callable[[GBuffer, Lighting], np.ndarray]] = {
    "blocky": blocky,
    "realistic": realistic,
    "sketch": sketch,
    "toon": toon,
    "night": night,
    "oil": oil,
    "watercolor": watercolor,
    "neon": neon,
}
