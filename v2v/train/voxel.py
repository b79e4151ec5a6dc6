"""A first-person 3-D voxel world: the scene spec, its terrain, trees and houses, and the camera path.

World coordinates are blocks: x and z horizontal, y up. The terrain is a heightfield, a few long
waves plus hills and basins on a jittered grid of cells; where it dips under the water level there
is a lake. Trees and houses live in cells too, their presence and shape taken from an integer hash
of (scene seed, salt, cell), so the world is endless and deterministic (voxel_props.py). The smooth world is that
heightfield sampled at block centres and interpolated; blocky mode keeps one column of blocks per
cell (its top the rounded centre height), boxes for trunks and crowns and stepped roofs.

The camera walks (eye height over the terrain, a gentle weave and head turns), turns on the spot
or flies (high over the hills, looking down a little). Its pose is a closed-form function of the
frame time, so any frame can be rendered on its own (raster_voxel.py draws them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2v.train.scenes import BIOMES, GRASS, ROCK, SAND, SNOW, TIMES_OF_DAY, WATER, hash01

VOXEL_MOTIONS = ("walk", "turn", "fly")
HILL_CELL = 28.0  # blocks per hill cell
EYE = 1.7  # eye height over the ground when walking, blocks
CLOUD_ALT = 70.0  # cloud plane over the water level, blocks

_SUN_ELEV = {"morning": (15.0, 25.0), "noon": (55.0, 65.0), "afternoon": (35.0, 45.0), "sunset": (6.0, 11.0)}
_BIOME = {  # ground, tree_p, pine_p, house_p (per cell)
    "meadow": (GRASS, 0.08, 0.2, 0.2),
    "forest": (GRASS, 0.45, 0.5, 0.1),
    "village": (GRASS, 0.1, 0.2, 0.75),
    "desert": (SAND, 0.015, 0.0, 0.3),
    "snowy": (SNOW, 0.2, 0.9, 0.3),
}


@dataclass(frozen=True)
class VoxelCamera:
    motion: str  # one of VOXEL_MOTIONS, for captions
    x0: float  # position at time 0, blocks
    z0: float
    heading: float  # direction of travel (radians from +x toward +z)
    speed: float  # blocks per frame along the heading
    weave_amp: float  # sideways weave around the straight line, blocks
    weave_period: float  # frames
    look_amp: float  # head turn around the travel direction, radians
    look_period: float  # frames
    turn_rate: float  # "turn": yaw change per frame, radians
    pitch: float  # tangent of the pitch (negative: looking down)
    pitch_amp: float  # slow nod, tangent units
    altitude: float  # "fly": height over the water level, blocks
    bob_amp: float  # "walk": step bob, blocks
    phase: float  # radians


@dataclass(frozen=True)
class VoxelSpec:
    seed: int
    biome: str  # one of scenes.BIOMES
    time_of_day: str  # one of scenes.TIMES_OF_DAY
    light: tuple[float, float, float]  # unit vector toward the sun (x, y up, z)
    camera: VoxelCamera
    ground: int  # surface material of the biome
    base: float  # mean ground height, blocks
    water: bool  # lakes in the low ground
    water_level: float  # blocks (far below the ground without water)
    waves: tuple[tuple[float, float, float, float], ...]  # (amplitude, kx, kz, phase) long waves
    hill_amp: float  # tallest hill, blocks
    basin_p: float  # share of hill cells that are basins
    mountains: bool  # tall rocky hills with snow, a mountain skyline
    tree_p: float  # probability that a tree cell holds a tree
    pine_p: float  # share of pines
    house_p: float  # probability that a house cell holds a house
    view: float  # view distance, blocks
    cloud_p: float  # probability that a cloud cell holds a cloud
    cloud_speed: float  # cloud drift along x, blocks per frame
    kind: str = "voxel"

    @property
    def has_mountains(self) -> bool:
        return self.mountains

    def trees(self) -> str:
        """'pine trees', 'trees' or '' for captions."""
        if self.tree_p < 0.05:
            return ""
        return "pine trees" if self.pine_p > 0.5 else "trees"

    def houses(self) -> bool:
        return self.house_p >= 0.25


def sample_voxel(seed: int) -> VoxelSpec:
    """A random voxel world and camera, fully determined by `seed`."""
    rng = np.random.default_rng([seed, 31])
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    biome = str(rng.choice(BIOMES))
    tod = str(rng.choice(TIMES_OF_DAY))
    motion = str(rng.choice(VOXEL_MOTIONS, p=[0.5, 0.2, 0.3]))
    ground, tree_p, pine_p, house_p = _BIOME[biome]
    mountains = biome == "snowy" or rng.random() < 0.35
    water = rng.random() < (0.35 if biome == "desert" else 0.6)
    base = 0.0
    waves = tuple(
        (u(0.8, 2.2) / (i + 1), *(_wavevector(rng, u(45.0, 110.0) / (i + 1))), u(0.0, 2 * math.pi)) for i in range(3)
    )
    hill_amp = u(16.0, 26.0) if mountains else u(5.0, 11.0)
    water_level = base + u(-0.6, 0.6) if water else base - 40.0
    top = base + sum(abs(w[0]) for w in waves) + hill_amp
    camera = VoxelCamera(
        motion=motion,
        x0=u(-2000.0, 2000.0),
        z0=u(-2000.0, 2000.0),
        heading=u(0, 2 * math.pi),
        speed={"walk": u(0.08, 0.16), "turn": 0.0, "fly": u(0.25, 0.5)}[motion],
        weave_amp=u(2.0, 6.0) if motion != "turn" else 0.0,
        weave_period=u(150.0, 300.0),
        look_amp=u(0.1, 0.35),
        look_period=u(90.0, 200.0),
        turn_rate=(u(0.006, 0.015) * (1 if rng.random() < 0.5 else -1)) if motion == "turn" else 0.0,
        pitch={"walk": u(-0.12, -0.02), "turn": u(-0.1, 0.0), "fly": u(-0.3, -0.15)}[motion],
        pitch_amp=u(0.01, 0.04),
        altitude=max(top, water_level) - water_level + u(8.0, 16.0),
        bob_amp=0.06 if motion == "walk" else 0.0,
        phase=u(0.0, 2 * math.pi),
    )
    azimuth = u(0.0, 2 * math.pi)
    elev = math.radians(u(*_SUN_ELEV[tod]))
    light = (math.cos(elev) * math.cos(azimuth), math.sin(elev), math.cos(elev) * math.sin(azimuth))
    return VoxelSpec(
        seed=int(seed),
        biome=biome,
        time_of_day=tod,
        light=light,
        camera=camera,
        ground=ground,
        base=base,
        water=water,
        water_level=water_level,
        waves=waves,
        hill_amp=hill_amp,
        basin_p=u(0.15, 0.35) if water else 0.0,
        mountains=mountains,
        tree_p=tree_p,
        pine_p=pine_p,
        house_p=house_p,
        view=96.0 if motion == "fly" else 64.0,
        cloud_p=u(0.2, 0.6),
        cloud_speed=u(0.02, 0.06) * (1 if rng.random() < 0.5 else -1),
    )


def _wavevector(rng: np.random.Generator, wavelength: float) -> tuple[float, float]:
    a = float(rng.uniform(0, 2 * math.pi))
    k = 2 * math.pi / wavelength
    return k * math.cos(a), k * math.sin(a)


# ----------------------------------------------------------------------------------------------
# Terrain


def cell_key(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """One int64 key per 2-D cell (i, j), for hash01."""
    return i.astype(np.int64) * 1_000_003 + j.astype(np.int64)


def terrain(spec: VoxelSpec, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Smooth terrain height (float64 blocks) at world points x, z (any equal shapes)."""
    x = np.asarray(x, np.float64)
    z = np.asarray(z, np.float64)
    h = np.full(np.broadcast(x, z).shape, spec.base)
    for amp, kx, kz, phase in spec.waves:
        h = h + amp * np.sin(kx * x + kz * z + phase)
    if h.size == 0:
        return h
    ci = np.floor(x / HILL_CELL).astype(np.int64)
    cj = np.floor(z / HILL_CELL).astype(np.int64)
    i0, j0 = int(ci.min()) - 1, int(cj.min()) - 1
    table = _hill_table(spec, i0, int(ci.max()) + 1, j0, int(cj.max()) + 1)  # [ni, nj, 4]
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            cx, cz, inv_r2, amp = np.moveaxis(table[ci - i0 + di, cj - j0 + dj], -1, 0)
            q = np.maximum(1.0 - ((x - cx) ** 2 + (z - cz) ** 2) * inv_r2, 0.0)
            h = h + amp * q * q
    return h


def _hill_table(spec: VoxelSpec, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """Hill of each cell i0..i1 x j0..j1: centre x, z, 1 / radius^2, amplitude -> float64 [ni, nj, 4]."""
    ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
    key = cell_key(ii, jj)
    r = [hash01(spec.seed, 40 + n, key) for n in range(5)]
    cx = (ii + 0.5 + 0.6 * (r[0] - 0.5)) * HILL_CELL
    cz = (jj + 0.5 + 0.6 * (r[1] - 0.5)) * HILL_CELL
    rad = HILL_CELL * (0.55 + 0.5 * r[2])
    amp = np.where(r[4] < spec.basin_p, -(2.0 + 3.0 * r[3]), spec.hill_amp * r[3] ** 1.5)
    return np.stack([cx, cz, 1.0 / (rad * rad), amp], axis=-1)


def ground_material(spec: VoxelSpec, h: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """uint8 surface material from terrain height and slope (|gradient|), any equal shapes."""
    wl = spec.water_level
    mat = np.full(h.shape, spec.ground, np.uint8)
    if spec.water and spec.ground == GRASS:
        mat[h < wl + 1.0] = SAND
    if spec.mountains:
        mat[(h > wl + 15.0) | (slope > 1.1)] = ROCK
        mat[(h > wl + 21.0) & (slope < 1.4)] = SNOW
    else:
        mat[slope > 1.2] = ROCK
    mat[h < wl] = WATER
    return mat


@dataclass
class HeightGrid:
    """Terrain sampled at block centres (i + 0.5, j + 0.5) for i0 <= i < i0 + nx, j0 <= j < j0 + nz."""

    i0: int
    j0: int
    hg: np.ndarray  # float32 [nx, nz, 3] terrain height, dh/dx and dh/dz (central differences)

    @property
    def h(self) -> np.ndarray:
        return self.hg[..., 0]


def height_grid(spec: VoxelSpec, x0: float, x1: float, z0: float, z1: float) -> HeightGrid:
    """The terrain over the blocks covering [x0, x1] x [z0, z1] plus a margin of two blocks."""
    i0, j0 = int(math.floor(x0)) - 2, int(math.floor(z0)) - 2
    i1, j1 = int(math.floor(x1)) + 3, int(math.floor(z1)) + 3
    xs = np.arange(i0 - 1, i1 + 1, dtype=np.float64) + 0.5
    zs = np.arange(j0 - 1, j1 + 1, dtype=np.float64) + 0.5
    h = terrain(spec, xs[:, None], zs[None, :])  # [nx + 2, nz + 2]
    gx = (h[2:, 1:-1] - h[:-2, 1:-1]) * 0.5
    gz = (h[1:-1, 2:] - h[1:-1, :-2]) * 0.5
    return HeightGrid(i0, j0, np.stack([h[1:-1, 1:-1], gx, gz], axis=-1).astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Camera


def camera_pose(spec: VoxelSpec, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eye position [T, 3] (x, y, z), yaw [T] (radians) and pitch tangent [T] at frame times `t`."""
    cam = spec.camera
    t = np.asarray(t, np.float64)
    fx, fz = math.cos(cam.heading), math.sin(cam.heading)
    w = 2 * math.pi / cam.weave_period
    if cam.motion == "turn":
        x = cam.x0 + 0.8 * np.cos(0.004 * t + cam.phase)
        z = cam.z0 + 0.8 * np.sin(0.004 * t + cam.phase)
        yaw = cam.heading + cam.turn_rate * t
    else:
        lateral = cam.weave_amp * np.sin(w * t + cam.phase)
        x = cam.x0 + cam.speed * t * fx - lateral * fz
        z = cam.z0 + cam.speed * t * fz + lateral * fx
        yaw = cam.heading + np.arctan2(cam.weave_amp * w * np.cos(w * t + cam.phase), cam.speed)
    yaw = yaw + cam.look_amp * np.sin(2 * math.pi * t / cam.look_period + 2 * cam.phase)
    pitch = cam.pitch + cam.pitch_amp * np.sin(2 * math.pi * t / 170.0 + cam.phase)
    if cam.motion == "fly":
        y = spec.water_level + cam.altitude + 3.0 * np.sin(2 * math.pi * t / 240.0 + cam.phase)
    else:
        ground = np.zeros_like(t)
        for d in (-3.0, -1.5, 0.0, 1.5, 3.0):
            ground += np.maximum(terrain(spec, x + d * fx, z + d * fz), spec.water_level)
        y = ground / 5.0 + EYE + cam.bob_amp * np.abs(np.sin(math.pi * t / 8.0))
    return np.stack([x, y, z], axis=1), yaw, pitch


def clear_of_path(spec: VoxelSpec, x: np.ndarray, z: np.ndarray, margin: float) -> np.ndarray:
    """bool: world points at least `margin` blocks beside the camera's walk (always True flying)."""
    cam = spec.camera
    if cam.motion == "fly":
        return np.ones(np.shape(x), bool)
    dx, dz = x - cam.x0, z - cam.z0
    if cam.motion == "turn":
        return dx * dx + dz * dz > (margin + 1.0) ** 2
    fx, fz = math.cos(cam.heading), math.sin(cam.heading)
    ts = (dx * fx + dz * fz) / cam.speed
    lateral = -dx * fz + dz * fx
    return np.abs(lateral - cam.weave_amp * np.sin(2 * math.pi / cam.weave_period * ts + cam.phase)) > margin


# ----------------------------------------------------------------------------------------------
# Trees and houses


__all__ = [
    "VoxelSpec",
    "VoxelCamera",
    "sample_voxel",
    "terrain",
    "ground_material",
    "height_grid",
    "HeightGrid",
    "camera_pose",
    "clear_of_path",
    "VOXEL_MOTIONS",
    "CLOUD_ALT",
]
