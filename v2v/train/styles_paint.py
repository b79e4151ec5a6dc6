"""Painted and glowing styles: oil painting, watercolor and neon, each one function of a GBuffer
(raster.py, raster_voxel.py, topdown.py) like the styles in styles.py.

Brush strokes, washes and grain are attached to the surfaces (texture coordinates tu/tv) so they
move with the world; paper and canvas grain stay on the frame, as they would on a painted frame.

Shape letters: T frames, H/W pixels. Colours are float32 RGB in 0..1 until the final uint8.
"""

from __future__ import annotations

import numpy as np

from v2v.train.scenes import (
    BIRD, BOAT, CLOUD, COW, DARK, DIRT, DOOR, GRASS, HORSE, LEAVES, PIG, PINE, ROCK, ROOF, SAIL,
    SAND, SKY, SNOW, SUN, TRUNK, WALL, WATER, WINDOW, WINDOW_LIT, WOOL, GBuffer, SceneSpec)
from v2v.train.styles import (
    _SKY, _blend_water, _box_blur, _edges, _palette, _sample, _sky_gradient, _sun_dist, _textures,
    _to_uint8)

_OIL = {
    SKY: (0.36, 0.56, 0.86), SUN: (1.0, 0.93, 0.62), CLOUD: (0.98, 0.94, 0.86), ROCK: (0.56, 0.49, 0.46),
    SNOW: (0.95, 0.95, 1.0), GRASS: (0.36, 0.6, 0.17), SAND: (0.92, 0.76, 0.44), WATER: (0.1, 0.34, 0.62),
    TRUNK: (0.44, 0.26, 0.13), LEAVES: (0.2, 0.5, 0.14), PINE: (0.1, 0.36, 0.24), WALL: (0.92, 0.8, 0.58),
    ROOF: (0.74, 0.27, 0.14), WINDOW: (0.24, 0.34, 0.52), WINDOW_LIT: (0.24, 0.34, 0.52),
    DOOR: (0.42, 0.22, 0.1), WOOL: (0.96, 0.92, 0.84), PIG: (0.95, 0.6, 0.58), COW: (0.36, 0.22, 0.13),
    HORSE: (0.62, 0.38, 0.18), BIRD: (0.14, 0.12, 0.16), BOAT: (0.62, 0.34, 0.16),
    SAIL: (0.98, 0.95, 0.86), DARK: (0.2, 0.15, 0.16), DIRT: (0.56, 0.37, 0.2)}
_WASH = {
    SKY: (0.55, 0.72, 0.92), SUN: (1.0, 0.95, 0.75), CLOUD: (1.0, 1.0, 1.0), ROCK: (0.6, 0.58, 0.6),
    SNOW: (0.97, 0.98, 1.0), GRASS: (0.48, 0.68, 0.32), SAND: (0.9, 0.8, 0.58), WATER: (0.3, 0.55, 0.75),
    TRUNK: (0.5, 0.35, 0.25), LEAVES: (0.34, 0.6, 0.3), PINE: (0.22, 0.46, 0.4), WALL: (0.92, 0.85, 0.72),
    ROOF: (0.8, 0.38, 0.3), WINDOW: (0.38, 0.48, 0.62), WINDOW_LIT: (0.38, 0.48, 0.62),
    DOOR: (0.52, 0.34, 0.24), WOOL: (0.96, 0.95, 0.92), PIG: (0.95, 0.7, 0.7), COW: (0.45, 0.33, 0.25),
    HORSE: (0.66, 0.46, 0.3), BIRD: (0.3, 0.3, 0.35), BOAT: (0.65, 0.45, 0.3), SAIL: (1.0, 1.0, 0.97),
    DARK: (0.35, 0.3, 0.32), DIRT: (0.62, 0.47, 0.33)}
_NEON_CYAN = np.asarray((0.1, 0.95, 1.0), np.float32)
_NEON_MAGENTA = np.asarray((1.0, 0.18, 0.85), np.float32)
_NEON_LIGHTS = np.asarray([(1.0, 0.25, 0.75), (0.15, 0.9, 1.0), (1.0, 0.75, 0.25), (0.6, 0.3, 1.0)],
                          np.float32)


def _screen(g: GBuffer) -> tuple[np.ndarray, np.ndarray]:
    """Frame coordinates in units of H: x [1, 1, W], y [1, H, 1] (paper and canvas grain)."""
    T, H, W = g.mat.shape
    return (np.arange(W, dtype=np.float32)[None, None, :] / H,
            np.arange(H, dtype=np.float32)[None, :, None] / H)


def _lum(col: np.ndarray) -> np.ndarray:
    return col @ np.asarray((0.3, 0.55, 0.15), np.float32)


def oil(g: GBuffer, scene: SceneSpec) -> np.ndarray:
    """Oil painting: brush strokes that follow the forms, thick paint catching the light, warm
    lights and cool shadows in a few broad values, a rich impasto palette, canvas weave."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    zen, hor, light = _SKY[scene.time_of_day]
    light = np.asarray(light, np.float32)
    base = _palette(_OIL)[g.mat]                                          # [T, H, W, 3]
    sh = np.clip(g.shade, -0.3, 1.0)
    values = np.floor(sh * 4.0 + 0.5) / 4.0                               # broad painted values
    tone = 0.5 + 0.55 * (0.6 * values + 0.4 * sh)
    cool = np.asarray((0.32, 0.3, 0.55), np.float32)
    col = base * (tone[..., None] * (0.75 + 0.25 * light)) + cool * (0.25 * (1.0 - tone))[..., None]
    sky = _sky_gradient(g, zen, hor)
    open_sky = (g.mat == SKY)[..., None]
    col = np.where(open_sky, sky * 1.05, col)
    a = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 30.0, 0.0, 0.45), 0.0)[..., None]
    col = col * (1 - a) + sky * a
    # Strokes: along the outlines of the forms where they are near, else a slow swirl of directions.
    lum = _box_blur(_lum(col), max(1, H // 48))
    gy = np.zeros_like(lum)
    gx = np.zeros_like(lum)
    gx[:, :, 1:-1] = lum[:, :, 2:] - lum[:, :, :-2]
    gy[:, 1:-1] = lum[:, 2:] - lum[:, :-2]
    swirl = (_sample(fbm, g.tu, g.tv, 6.0) - 0.5) * 2.5
    strength = np.clip(np.hypot(gx, gy) * 40.0, 0.0, 1.0)
    theta = np.where(open_sky[..., 0] | (g.mat == WATER), 0.15 * swirl,
                     (1 - strength) * swirl + strength * np.arctan2(gy, gx) + np.pi / 2)
    c, s = np.cos(theta), np.sin(theta)
    along = (c * g.tu + s * g.tv) * 9.0
    across = (-s * g.tu + c * g.tv) * 40.0
    row = np.floor(across)
    stroke = _sample(white, along + row * 0.37, row, 1.0)                  # one value per dab
    bristle = _sample(fbm, along * 2.0, across * 8.0, 1.0)
    ridge = np.abs(across - row - 0.5) * 2.0                               # 0 at a dab's spine
    jitter = (stroke - 0.5)[..., None] * np.asarray((0.07, 0.05, -0.04), np.float32)
    relief = 1.0 + 0.12 * (0.5 - ridge) + 0.16 * (bristle - 0.5)
    col = col * relief[..., None] * (0.94 + 0.12 * stroke)[..., None] + jitter
    grey = _lum(col)[..., None]
    col = grey + (col - grey) * 1.35                                       # saturated pigments
    sun_glow = np.exp(-(_sun_dist(g) / 0.14) ** 2)[..., None]
    col = col + 0.25 * sun_glow * light
    col = np.where((g.mat == SUN)[..., None], _palette(_OIL)[SUN], col)
    edge = _edges(g, thick=2 if H >= 192 else 1) & (_sample(white, g.tu, g.tv, 30.0) > 0.35)
    col = col * (1.0 - 0.3 * edge[..., None])
    _blend_water(col, g, 0.45, 3.0, tint=np.asarray((0.85, 0.92, 1.0), np.float32))
    x, y = _screen(g)
    weave = 0.025 * np.sin(x * H * 2.2) * np.sin(y * H * 2.2)
    col = col * (1.0 + weave[..., None])
    return _to_uint8(col)


def watercolor(g: GBuffer, scene: SceneSpec) -> np.ndarray:
    """Watercolor: transparent washes on white paper, soft bleeding edges, darker pigment where a
    wash dries at its edge, granulation in the paper's grain, highlights left as bare paper."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    zen, hor, _ = _SKY[scene.time_of_day]
    pigment = _palette(_WASH)[g.mat]                                      # [T, H, W, 3]
    sh = np.clip(g.shade, 0.0, 1.0)
    density = 0.5 + 0.45 * (1.0 - sh)
    open_sky = g.mat == SKY
    sky = _sky_gradient(g, zen, hor)
    pigment = np.where(open_sky[..., None], sky, pigment)
    density = np.where(open_sky, 0.3 + 0.4 * np.clip(g.elev / 0.45, 0.0, 1.0), density)
    density = np.where((g.mat == CLOUD) | (g.mat == SUN), 0.04, density)
    far = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 20.0, 0.0, 0.5), 0.0)
    density = density * (1.0 - far)
    # Blooms: wash density varies slowly over the surfaces, as the water dried unevenly.
    density = density * (0.8 + 0.4 * _sample(fbm, g.tu, g.tv, 5.0))
    # Bleeding: colour and density blurred and mixed back with an irregular, noisy weight.
    r = max(1, H // 64)
    soft = np.stack([_box_blur(pigment[..., i], r) for i in range(3)], axis=-1)
    soft_d = _box_blur(density, r)
    wet = _sample(fbm, g.tu, g.tv, 14.0)[..., None]
    pigment = pigment * (1 - wet * 0.8) + soft * (wet * 0.8)
    density = density * (1 - wet[..., 0] * 0.7) + soft_d * (wet[..., 0] * 0.7)
    # Edge darkening: pigment piles up where a wash meets another.
    rim = _box_blur(_edges(g).astype(np.float32), max(1, H // 128))
    density = density + 0.35 * np.clip(rim * 2.0, 0.0, 1.0) * (1.0 - far)
    x, y = _screen(g)
    grain = _sample(white, x, y, 160.0) * 0.5 + _sample(fbm, x, y, 40.0) * 0.5
    density = density * (0.7 + 0.6 * grain)
    paper = (0.93 + 0.05 * _sample(fbm, x, y, 24.0))[..., None] * np.asarray((1.0, 0.98, 0.93), np.float32)
    col = paper * (1.0 - np.clip(density, 0.0, 0.95)[..., None] * (1.0 - pigment))
    _blend_water(col, g, 0.3, 3.0)
    return _to_uint8(col)


def neon(g: GBuffer, scene: SceneSpec) -> np.ndarray:
    """Neon (cyberpunk night): a dark scene, glowing magenta and cyan lines on every outline,
    emissive windows in neon colours, a striped synthwave sun, bloom around all light."""
    fbm, white = _textures()
    T, H, W = g.mat.shape
    base = _palette(_OIL)[g.mat]
    lum = _lum(base)[..., None]
    col = (0.35 * base + 0.65 * lum) * np.asarray((0.16, 0.12, 0.26), np.float32)
    col = col * (0.6 + 0.5 * np.clip(g.shade, 0.0, 1.0))[..., None]
    sky = _sky_gradient(g, (0.02, 0.0, 0.06), (0.3, 0.04, 0.3))
    open_sky = (g.mat == SKY) | (g.mat == CLOUD)
    col = np.where(open_sky[..., None], sky, col)
    col = np.where((g.mat == CLOUD)[..., None], sky * 1.6 + 0.02, col)
    star = (_sample(white, g.tu, g.tv, 40.0) > 0.995) & (g.mat == SKY)
    col = col + (0.5 * star)[..., None]
    haze = np.where(g.depth < 20.0, np.clip((g.depth - 1.0) / 25.0, 0.0, 0.6), 0.0)[..., None]
    col = col * (1 - haze) + sky * haze
    # The synthwave sun: yellow to magenta, cut by horizontal gaps in its lower half.
    sun = g.mat == SUN
    if sun.any():
        f = np.clip(g.tv * 0.5 + 0.5, 0.0, 1.0)[..., None]
        disc = np.asarray((1.0, 0.85, 0.2), np.float32) * (1 - f) + _NEON_MAGENTA * f
        gap = (g.tv > 0.0) & (np.mod(g.tv * 5.0, 1.0) < 0.3)
        col = np.where((sun & ~gap)[..., None], disc, col)
    # Glowing lines: cyan on the ground, magenta on objects, at every outline.
    line = _edges(g, thick=2 if H >= 192 else 1)
    objects = g.inst >= (1 << 24)
    cyan = (line & ~objects).astype(np.float32) * (1.0 - haze[..., 0]) * np.where(g.inst == 2, 0.35, 1.0)
    magenta = (line & objects).astype(np.float32)
    windows = (g.mat == WINDOW) | (g.mat == WINDOW_LIT)
    pick = (g.inst // 8 + (g.mat == WINDOW_LIT)) % len(_NEON_LIGHTS)
    window_col = _NEON_LIGHTS[pick] * windows[..., None]
    flicker = 0.85 + 0.15 * _sample(white, g.tu, g.tv, 2.0)[..., None]
    glow = (cyan[..., None] * _NEON_CYAN + magenta[..., None] * _NEON_MAGENTA) * 0.9 + window_col * flicker
    col = np.where(windows[..., None], window_col * flicker, col) + glow * (~windows)[..., None]
    water = g.mat == WATER
    col = np.where(water[..., None], col * 0.6, col)
    sun_glow = np.exp(-(_sun_dist(g) / 0.2) ** 2)[..., None] * _NEON_MAGENTA * 0.35
    col = col + sun_glow
    r1, r2 = max(1, H // 128), max(2, H // 32)
    for mask, colour in ((cyan, _NEON_CYAN), (magenta + windows * 1.5, _NEON_MAGENTA)):
        bloom = 0.5 * _box_blur(mask, r1) + 0.6 * _box_blur(_box_blur(mask, r2), r2)
        col = col + bloom[..., None] * colour * 0.6
    _blend_water(col, g, 0.6, 2.0, tint=np.asarray((0.7, 0.8, 1.0), np.float32))
    return _to_uint8(col)


__all__ = ["oil", "watercolor", "neon"]
