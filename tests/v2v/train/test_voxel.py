import math

import numpy as np
import pytest

from v2v.train.data import STYLES, caption, rasterize_scene, render_clip, render_styles, sample_scene
from v2v.train.raster_voxel import rasterize_voxel
from v2v.train.scenes import CLOUD, DIRT, GRASS, LEAVES, PINE, ROOF, SKY, SNOW, SUN, TRUNK, WALL, WATER
from v2v.train.styles import STYLE_FUNCS
from v2v.train.voxel import VOXEL_MOTIONS, camera_pose, sample_voxel, terrain

SIZE = (96, 64)
SMOOTH = tuple(s for s in STYLES if s != "blocky")


def _seed(pred) -> int:
    return next(s for s in range(500) if pred(sample_voxel(s)))


def test_spec_is_deterministic_by_seed():
    assert sample_voxel(3) == sample_voxel(3) != sample_voxel(4)
    assert sample_voxel(3).kind == "voxel"
    a = render_clip(sample_voxel(3), "realistic", 2, SIZE)
    np.testing.assert_array_equal(a, render_clip(sample_voxel(3), "realistic", 2, SIZE))
    assert not np.array_equal(a, render_clip(sample_voxel(4), "realistic", 2, SIZE))


def test_every_smooth_style_renders_the_one_smooth_gbuffer():
    scene = sample_voxel(_seed(lambda s: s.tree_p > 0.3))
    g = rasterize_voxel(scene, 10, 2, SIZE, blocky=False)
    again = rasterize_voxel(scene, 10, 2, SIZE, blocky=False)
    np.testing.assert_array_equal(g.inst, again.inst)
    clips = render_styles(scene, STYLES, 2, SIZE, start=10)
    for style in SMOOTH:  # so every smooth style shows exactly these object ids per pixel
        np.testing.assert_array_equal(clips[style], STYLE_FUNCS[style](g, scene))
    # The toon outlines lie on the G-buffer's object boundaries.
    dark = clips["toon"].max(-1) < 20
    edge = np.zeros(g.inst.shape, bool)
    edge[:, :, 1:] |= g.inst[:, :, 1:] != g.inst[:, :, :-1]
    edge[:, 1:, :] |= g.inst[:, 1:, :] != g.inst[:, :-1, :]
    edge[:, :, :-1] |= g.inst[:, :, 1:] != g.inst[:, :, :-1]
    edge[:, :-1, :] |= g.inst[:, 1:, :] != g.inst[:, :-1, :]
    assert dark.sum() > 20 and (dark & ~edge).sum() < 0.05 * dark.sum()


@pytest.mark.parametrize("pick", [lambda s: s.water, lambda s: s.tree_p > 0.3, lambda s: s.house_p > 0.5])
def test_blocky_geometry_agrees_with_the_smooth_world(pick):
    scene = sample_voxel(_seed(pick))
    smooth = rasterize_voxel(scene, 0, 3, (128, 96), blocky=False)
    blocky = rasterize_voxel(scene, 0, 3, (128, 96), blocky=True)
    same_mat = np.where(np.isin(blocky.mat, (DIRT,)) & np.isin(smooth.mat, (GRASS, SNOW)), smooth.mat, blocky.mat)
    assert (same_mat == smooth.mat).mean() > 0.8
    sky_s, sky_b = np.isin(smooth.mat, (SKY, SUN, CLOUD)), np.isin(blocky.mat, (SKY, SUN, CLOUD))
    assert (sky_s & sky_b).sum() / (sky_s | sky_b).sum() > 0.9
    obj_s, obj_b = smooth.inst >= (1 << 24), blocky.inst >= (1 << 24)
    assert (obj_s == obj_b).mean() > 0.9
    both = obj_s & obj_b
    if both.sum() > 50:  # where both show an object, it is mostly the same object
        assert ((smooth.inst >> 3) == (blocky.inst >> 3))[both].mean() > 0.7


def test_pieces_equal_one_go_for_long_starts():
    scene = sample_voxel(_seed(lambda s: s.camera.motion == "walk"))
    for style in ("blocky", "realistic"):
        whole = render_clip(scene, style, 9, SIZE, start=1995)
        parts = np.concatenate(
            [render_clip(scene, style, 4, SIZE, start=1995), render_clip(scene, style, 5, SIZE, start=1999)]
        )
        np.testing.assert_array_equal(parts, whole)


@pytest.mark.parametrize("motion", VOXEL_MOTIONS)
def test_the_camera_moves_smoothly(motion):
    scene = sample_voxel(_seed(lambda s: s.camera.motion == motion))
    clip = render_clip(scene, "realistic", 6, SIZE, start=40).astype(np.int16)
    step = np.abs(np.diff(clip, axis=0))
    assert step.mean() > 0.3  # consecutive frames differ ...
    assert (step.max(-1) > 24).mean() < 0.6  # ... but not completely
    pos, yaw, pitch = camera_pose(scene, np.arange(0.0, 400.0))
    speed = np.hypot(np.diff(pos[:, 0]), np.diff(pos[:, 2]))
    assert speed.max() < 1.0 and np.abs(np.diff(yaw)).max() < 0.05 and np.all(np.abs(pitch) < 0.4)
    if motion == "turn":
        assert abs(yaw[-1] - yaw[0]) > 1.0
    else:
        assert np.hypot(pos[-1, 0] - pos[0, 0], pos[-1, 2] - pos[0, 2]) > 20.0
    ground = np.maximum(terrain(scene, pos[:, 0], pos[:, 2]), scene.water_level)
    assert np.all(pos[:, 1] > ground + 1.0)  # never under the ground


def test_gbuffer_fields_are_meaningful():
    def wet(seed: int):
        g = rasterize_scene(sample_voxel(seed), 0, 4, (128, 96), blocky=False)
        return g if (g.mat == WATER).mean() > 0.05 else None

    scene, g = next((sample_voxel(s), g) for s in range(40) if sample_voxel(s).water and (g := wet(s)))
    assert np.all(np.diff(g.elev[..., 0], axis=1) < 0)  # rows go down the sky
    land = ~np.isin(g.mat, (SKY, SUN, CLOUD))
    assert land.any() and np.all((g.depth[land] >= 1.0) & (g.depth[land] < 20.0))
    assert np.all(np.abs(g.shade) <= 1.0 + 1e-5)
    assert np.all(np.isfinite(g.water_row)) and np.all(np.isfinite(g.tu)) and np.all(np.isfinite(g.tv))
    assert (g.mat == WATER).any() and np.all(g.inst[g.mat == WATER] == 9)
    dry = sample_voxel(_seed(lambda s: not s.water))
    assert np.all(np.isnan(rasterize_scene(dry, 0, 2, SIZE, blocky=False).water_row))


def test_trees_and_houses_appear():
    forest = sample_voxel(_seed(lambda s: s.tree_p > 0.3 and s.camera.motion == "walk"))
    mats = np.concatenate(
        [rasterize_scene(forest, t, 1, (128, 96), b).mat.ravel() for t in (0, 200) for b in (False, True)]
    )
    assert np.isin(mats, (TRUNK,)).any() and np.isin(mats, (LEAVES, PINE)).any()
    village = sample_voxel(_seed(lambda s: s.house_p > 0.5 and s.camera.motion == "fly"))
    mats = np.concatenate(
        [rasterize_scene(village, t, 1, (128, 96), b).mat.ravel() for t in (0, 300) for b in (False, True)]
    )
    assert np.isin(mats, (WALL,)).any() and np.isin(mats, (ROOF,)).any()


def test_captions_name_the_view():
    for seed in range(12):
        scene = sample_scene(seed, kind="voxel")
        text = caption(scene, "realistic")
        assert "first person" in text
        assert ("flying" in text) == (scene.camera.motion == "fly")
    assert math.isclose(sum(sample_voxel(0).light[i] ** 2 for i in range(3)), 1.0)
