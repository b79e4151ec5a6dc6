"""Procedural 2.5-D scenes: sampling a scene, and rasterising it into a style-agnostic G-buffer.

A scene is a stack of parallax layers seen from a camera that pans, walks or zooms: sky, sun, clouds,
mountains, far hills, an optional lake, mid hills and a near bank, with trees, houses and animals.
The rasteriser writes, per pixel, which material and which object is in front and how it is lit; a
style (styles.py) turns that G-buffer into colours. Every style therefore shows the same geometry.

Coordinates. Screen: sx, sy in units of the frame height H, centred on the frame, y down; the camera
zoom scales them (sx' = sx / zoom). A layer at depth d (1 = nearest) maps the screen to layer units

    u = cam_x + sx' * d              horizontal world position
    v = cam_h + (horizon - sy') * d  height above the layer's ground (v = cam_h on the horizon)

so far layers move and look smaller by 1/d. In blocky mode u and v are quantised to voxels of a
fixed size per layer before any shape is evaluated, so shapes become staircases of blocks that move
with the world. Objects (trees, houses, cloud puffs) live in cells along u; a cell's content comes
from an integer hash of (scene seed, layer, cell), so the world is endless and deterministic.

Shape letters: T frames, H/W pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Materials (uint8 ids in GBuffer.mat).
(
    SKY,
    SUN,
    CLOUD,
    ROCK,
    SNOW,
    GRASS,
    SAND,
    WATER,
    TRUNK,
    LEAVES,
    PINE,
    WALL,
    ROOF,
    WINDOW,
    WINDOW_LIT,
    DOOR,
    WOOL,
    PIG,
    COW,
    HORSE,
    BIRD,
    BOAT,
    SAIL,
    DARK,
    DIRT,
) = range(25)
N_MATERIALS = 25

TIMES_OF_DAY = ("morning", "noon", "afternoon", "sunset")
BIOMES = ("meadow", "forest", "village", "desert", "snowy")
MOTIONS = ("pan", "walk", "zoom", "still")
ANIMALS = ("sheep", "pig", "cow", "horse")
MOVER_KINDS = ANIMALS + ("bird", "boat")

CLOUD_DEPTH = 40.0
BIRD_DEPTH = 5.0
WATER_DEPTH = 4.0
SKY_DEPTH = 1000.0


@dataclass(frozen=True)
class CameraSpec:
    x0: float  # world x at time 0 (layer units at depth 1)
    speed: float  # world x per frame (walk / drift)
    pan_amp: float  # world x amplitude of a slow sinusoidal pan
    pan_period: float  # frames
    zoom_amp: float  # relative zoom amplitude, 0..0.3
    zoom_period: float  # frames
    bob_amp: float  # camera height wobble while walking, world units
    phase: float  # radians
    height: float  # camera height above the ground, world units
    horizon: float  # screen row of the horizon, units of H from the centre (negative = up)
    motion: str  # one of MOTIONS, for captions


@dataclass(frozen=True)
class LayerSpec:
    name: str  # "mountains" | "far" | "mid" | "near"
    depth: float  # parallax depth, 1 = nearest
    base: float  # mean ground height, world units
    amps: tuple[float, float, float]  # height harmonics, world units
    freqs: tuple[float, float, float]  # radians per world unit
    phases: tuple[float, float, float]
    ridged: bool  # mountain-like peaks instead of round hills
    ground: int  # material of the ground surface
    tree_p: float  # probability that an object cell holds a tree
    pine_p: float  # fraction of trees that are pines
    house_p: float  # probability that an object cell holds a house
    cell: float  # object cell width, world units
    scale: float  # object size multiplier
    block: float  # voxel size in blocky mode, world units


@dataclass(frozen=True)
class MoverSpec:
    kind: str  # one of MOVER_KINDS
    host: str  # layer name it walks on ("mid" | "near"), "water" for boats, "sky" for birds
    u0: float  # position at time 0 relative to the camera, world units of its layer
    speed: float  # world units of its layer per frame (sign = direction)
    size: float  # size multiplier
    altitude: float  # birds: height above the horizon, units of H


class Lighting(Protocol):
    """What a style reads from a scene of any kind (SceneSpec, voxel.VoxelSpec, topdown.TopdownSpec)."""

    @property
    def time_of_day(self) -> str: ...  # one of TIMES_OF_DAY

    @property
    def light(self) -> tuple[float, float, float]: ...  # unit vector toward the sun


@dataclass(frozen=True)
class SceneSpec:
    seed: int
    biome: str  # one of BIOMES
    time_of_day: str  # one of TIMES_OF_DAY (the "night" style overrides it)
    sun_x: float  # sun centre, screen units of H from the centre
    sun_elev: float  # sun height above the horizon, units of H
    light: tuple[float, float, float]  # unit light direction (x right, y up, z toward the viewer)
    camera: CameraSpec
    layers: tuple[LayerSpec, ...]  # far to near
    water: bool  # a lake at depth WATER_DEPTH
    cloud_p: float  # probability that a cloud cell holds a cloud
    cloud_speed: float  # cloud drift, world units at CLOUD_DEPTH per frame
    movers: tuple[MoverSpec, ...]
    kind: str = "side"  # the scene kind (data.KINDS): a side view

    @property
    def has_mountains(self) -> bool:
        return any(layer.name == "mountains" for layer in self.layers)

    def trees(self) -> str:
        """'pine trees', 'trees' or '' from the object densities of the mid and near layers."""
        tree_p = max(layer.tree_p for layer in self.layers if layer.name in ("mid", "near"))
        pine_p = max(layer.pine_p for layer in self.layers if layer.name in ("mid", "near"))
        if tree_p < 0.1:
            return ""
        return "pine trees" if pine_p > 0.5 else "trees"

    def houses(self) -> bool:
        return max(layer.house_p for layer in self.layers) >= 0.1


_BIOME = {  # ground, tree_p, pine_p, house_p
    "meadow": (GRASS, 0.25, 0.2, 0.06),
    "forest": (GRASS, 0.75, 0.5, 0.03),
    "village": (GRASS, 0.25, 0.2, 0.45),
    "desert": (SAND, 0.05, 0.0, 0.12),
    "snowy": (SNOW, 0.45, 0.9, 0.12),
}
_SUN_ELEV = {"morning": (0.12, 0.22), "noon": (0.3, 0.38), "afternoon": (0.2, 0.3), "sunset": (0.05, 0.1)}
_LIGHT_ANGLE = {"morning": 25.0, "noon": 65.0, "afternoon": 40.0, "sunset": 10.0}


class _Draw:
    """The random draws of sample_scene, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def u(self, a: float, b: float) -> float:
        return float(self.rng.uniform(a, b))

    def sign(self) -> float:
        return float(self.rng.choice([-1, 1]))

    def phases(self) -> tuple[float, float, float]:
        a, b, c = (float(p) for p in self.rng.uniform(0, 2 * math.pi, 3))
        return a, b, c


def sample_scene(seed: int) -> SceneSpec:
    """A random scene, fully determined by `seed` (any int >= 0)."""
    r = _Draw(seed)
    u, rng = r.u, r.rng
    biome = str(rng.choice(BIOMES))
    tod = str(rng.choice(TIMES_OF_DAY))
    motion = str(rng.choice(MOTIONS, p=[0.35, 0.35, 0.2, 0.1]))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    speed = {"pan": u(0.001, 0.003), "walk": u(0.004, 0.01), "zoom": u(0.0, 0.002), "still": u(0.0, 0.0005)}[
        motion
    ] * sign
    camera = CameraSpec(
        x0=u(-200.0, 200.0),
        speed=speed,
        pan_amp=u(0.1, 0.3) if motion == "pan" else 0.0,
        pan_period=u(60.0, 160.0),
        zoom_amp=u(0.1, 0.25) if motion == "zoom" else 0.0,
        zoom_period=u(48.0, 120.0),
        bob_amp=u(0.004, 0.008) if motion == "walk" else 0.0,
        phase=u(0.0, 2 * math.pi),
        height=u(0.26, 0.34),
        horizon=u(-0.12, 0.02),
        motion=motion,
    )

    ground, tree_p, pine_p, house_p = _BIOME[biome]
    water = bool(rng.random() < (0.3 if biome == "desert" else 0.5))
    layers = []
    if biome == "snowy" or rng.random() < 0.6:
        layers.append(
            LayerSpec(
                "mountains",
                depth=14.0,
                base=u(0.6, 1.2),
                amps=(u(1.2, 2.0), u(0.5, 0.9), 0.25),
                freqs=(0.22, 0.55, 1.6),
                phases=r.phases(),
                ridged=True,
                ground=ROCK,
                tree_p=0.0,
                pine_p=0.0,
                house_p=0.0,
                cell=1.0,
                scale=1.0,
                block=0.02 * 14.0,
            )
        )
    layers.append(
        LayerSpec(
            "far",
            depth=6.0,
            base=u(0.35, 0.6),
            amps=(u(0.2, 0.4), 0.12, 0.04),
            freqs=(0.5, 1.3, 3.1),
            phases=r.phases(),
            ridged=False,
            ground=ground,
            tree_p=min(0.9, tree_p * 1.2),
            pine_p=pine_p,
            house_p=0.0,
            cell=0.5,
            scale=1.6,
            block=0.025 * 6.0,
        )
    )
    mid_base = u(-0.25, -0.05) if water else u(0.0, 0.25)
    layers.append(
        LayerSpec(
            "mid",
            depth=2.6,
            base=mid_base,
            amps=(u(0.08, 0.14), 0.05, 0.02),
            freqs=(1.2, 2.9, 7.0),
            phases=r.phases(),
            ridged=False,
            ground=ground,
            tree_p=tree_p,
            pine_p=pine_p,
            house_p=house_p,
            cell=0.6,
            scale=1.0,
            block=0.035 * 2.6,
        )
    )
    near_base = u(-0.2, -0.1) if water else u(-0.1, 0.04)
    layers.append(
        LayerSpec(
            "near",
            depth=1.2,
            base=near_base,
            amps=(u(0.03, 0.07), 0.025, 0.008),
            freqs=(2.3, 5.1, 11.0),
            phases=r.phases(),
            ridged=False,
            ground=ground,
            tree_p=tree_p * 0.6,
            pine_p=pine_p,
            house_p=house_p * 0.6,
            cell=0.7,
            scale=1.0,
            block=0.045 * 1.2,
        )
    )

    movers = []
    for _ in range(int(rng.integers(0, 4))):
        kind = str(rng.choice(ANIMALS))
        host = "near" if rng.random() < 0.6 else "mid"
        movers.append(
            MoverSpec(kind, host, u0=u(-1.2, 1.2), speed=u(0.001, 0.004) * r.sign(), size=u(0.8, 1.25), altitude=0.0)
        )
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            movers.append(
                MoverSpec(
                    "bird",
                    "sky",
                    u0=u(-6.0, 6.0),
                    speed=u(0.01, 0.03) * r.sign(),
                    size=u(0.8, 1.2),
                    altitude=u(0.12, 0.3),
                )
            )
    if water and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            movers.append(
                MoverSpec(
                    "boat", "water", u0=u(-4.0, 4.0), speed=u(0.002, 0.006) * r.sign(), size=u(0.8, 1.2), altitude=0.0
                )
            )

    sun_x = u(-0.4, 0.4)
    angle = math.radians(_LIGHT_ANGLE[tod] + u(-5.0, 5.0))
    lx, ly = math.copysign(math.cos(angle), sun_x), math.sin(angle)
    norm = math.sqrt(lx * lx + ly * ly + 0.5**2)
    return SceneSpec(
        seed=int(seed),
        biome=biome,
        time_of_day=tod,
        sun_x=sun_x,
        sun_elev=u(*_SUN_ELEV[tod]),
        light=(lx / norm, ly / norm, 0.5 / norm),
        camera=camera,
        layers=tuple(layers),
        water=water,
        cloud_p=u(0.15, 0.8),
        cloud_speed=u(0.01, 0.04) * r.sign(),
        movers=tuple(movers),
    )


# ----------------------------------------------------------------------------------------------
# Helpers


def hash01(seed: int, salt: int, k: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats from integer cells `k` (any shape), a splitmix64 hash of (seed, salt, k)."""
    x = k.astype(np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x = x + np.uint64((seed * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & (2**64 - 1))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def height(layer: LayerSpec, u: np.ndarray) -> np.ndarray:
    """Ground height (world units) of `layer` at world positions `u`."""
    h = np.full(u.shape, layer.base)
    for a, f, p in zip(layer.amps, layer.freqs, layer.phases, strict=True):
        s = np.sin(f * u + p)
        h = h + (a * 2.0 * (1.0 - np.abs(s)) ** 2 if layer.ridged else a * s)
    return h


def camera_path(cam: CameraSpec, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera x, zoom and height at frame times `t` [T] -> three [T] float64 arrays."""
    x = cam.x0 + cam.speed * t + cam.pan_amp * np.sin(2 * math.pi * t / cam.pan_period + cam.phase)
    zoom = 1.0 + cam.zoom_amp * np.sin(2 * math.pi * t / cam.zoom_period + cam.phase)
    h = cam.height + cam.bob_amp * np.abs(np.sin(math.pi * t / 6.0))
    return x, zoom, h


# ----------------------------------------------------------------------------------------------
# G-buffer


@dataclass
class GBuffer:
    mat: np.ndarray  # uint8 [T, H, W] material id
    inst: np.ndarray  # int32 [T, H, W] object/part id; a change between neighbours is an outline
    depth: np.ndarray  # float32 [T, H, W] depth of the surface in front, 1 nearest (sky: SKY_DEPTH;
    # the styles haze below 20)
    shade: np.ndarray  # float32 [T, H, W] cosine between surface normal and light, -1..1
    tu: np.ndarray  # float32 [T, H, W] texture coordinate (blocky: voxel or texel units, else
    # about units of H: u / d in the side view)
    tv: np.ndarray  # float32 [T, H, W]
    elev: np.ndarray  # float32 [T, H, 1] height of each row above the horizon, units of H
    sun: np.ndarray  # float32 [T, 3] sun centre x, y and radius in pixels (far off the frame
    # when not in view)
    water_row: np.ndarray  # float32 [T] pixel row water mirrors about: the lake's shore line, the
    # voxel world's horizon (nan without water)
    t: np.ndarray  # float64 [T] frame times
    blocky: bool
