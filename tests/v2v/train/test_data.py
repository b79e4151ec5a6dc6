import numpy as np
import pytest
import torch

from v2v.train import data
from v2v.train.data import (
    HELDOUT_SEED, STYLES, VOCAB, ClipDataset, ClipDatasetConfig, caption, render_clip,
    render_styles, sample_scene, style_prompt)
from v2v.train.raster import rasterize
from v2v.train.scenes import SKY, SUN

SMALL = (64, 48)


def test_styles_and_api_names():
    assert {"blocky", "realistic", "sketch", "toon", "night"} <= set(STYLES)
    for name in ("render_clip", "render_styles", "caption", "style_prompt", "sample_scene",
                 "ClipDataset", "VOCAB", "STYLES", "SceneSpec"):
        assert hasattr(data, name)


def test_deterministic_by_seed():
    assert sample_scene(7) == sample_scene(7)
    assert sample_scene(7) != sample_scene(8)
    a = render_clip(sample_scene(7), "realistic", 3, SMALL)
    b = render_clip(sample_scene(7), "realistic", 3, SMALL)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_clip(sample_scene(8), "realistic", 3, SMALL))


@pytest.mark.parametrize("style", STYLES)
def test_shapes_and_dtypes(style):
    clip = render_clip(sample_scene(1), style, 5, SMALL)
    assert clip.shape == (5, 48, 64, 3)
    assert clip.dtype == np.uint8
    assert clip.std() > 5  # not a blank frame


def test_frames_move():
    clip = render_clip(sample_scene(4), "realistic", 8, SMALL)
    assert np.abs(np.diff(clip.astype(np.int16), axis=0)).mean() > 0.05


def test_same_geometry_across_styles():
    scene = sample_scene(2)
    smooth = rasterize(scene, 0, 3, (128, 96), blocky=False)
    blocky = rasterize(scene, 0, 3, (128, 96), blocky=True)
    sky_s = np.isin(smooth.mat, (SKY, SUN))
    sky_b = np.isin(blocky.mat, (SKY, SUN))
    iou = (sky_s & sky_b).sum() / (sky_s | sky_b).sum()
    assert iou > 0.85
    clips = render_styles(scene, STYLES, 3, (128, 96))
    # The smooth styles share one G-buffer, so their outlines agree; colours differ strongly.
    from v2v import metrics

    pytest.importorskip("cv2")
    f1 = metrics.structure(clips["toon"], clips["realistic"])["edge_f1"]
    other = render_clip(sample_scene(3), "realistic", 3, (128, 96))
    assert f1 > metrics.structure(other, clips["realistic"])["edge_f1"] + 0.1
    means = {s: clips[s].reshape(-1, 3).mean(0) for s in STYLES}
    for i, a in enumerate(STYLES):
        for b in STYLES[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 8 or np.abs(
                clips[a].std() - clips[b].std()) > 8, (a, b)


def test_rendering_in_pieces_equals_one_go():
    scene = sample_scene(11)
    whole = render_styles(scene, STYLES, 20, SMALL, start=5)
    for style in STYLES:
        parts = [render_clip(scene, style, 7, SMALL, start=5),
                 render_clip(scene, style, 13, SMALL, start=12)]
        np.testing.assert_array_equal(np.concatenate(parts), whole[style])


def test_wide_frames_are_not_distorted():
    scene = sample_scene(1)
    clip = render_clip(scene, "toon", 2, (448, 256))
    assert clip.shape == (2, 256, 448, 3)
    # A wider frame sees more of the same world at the same scale: its centre is the square frame.
    for blocky in (False, True):
        wide = rasterize(scene, 0, 2, (448, 256), blocky=blocky)
        square = rasterize(scene, 0, 2, (256, 256), blocky=blocky)
        np.testing.assert_array_equal(wide.mat[:, :, 96:352], square.mat)


def test_captions_use_vocab():
    vocab = set(VOCAB)
    rng = np.random.default_rng(0)
    for seed in range(40):
        scene = sample_scene(seed)
        for style in STYLES:
            for text in (caption(scene, style), caption(scene, style, rng)):
                assert set(text.split()) <= vocab, text
    for style in STYLES:
        assert set(style_prompt(style).split()) <= vocab
    assert style_prompt("realistic") == "a realistic landscape"
    assert "night" in caption(sample_scene(0), "night")


def test_dataset_split_and_layout():
    cfg = ClipDatasetConfig(frames=5, size=SMALL, length=2, source_style="blocky")
    items = list(ClipDataset(cfg))
    assert len(items) == 2
    for item in items:
        v = item["video"]
        assert isinstance(v, torch.Tensor) and v.dtype == torch.float32
        assert v.shape == (3, 5, 48, 64)
        assert -1.0 <= float(v.min()) and float(v.max()) <= 1.0
        assert item["style"] in STYLES and item["seed"] < HELDOUT_SEED
        assert set(item["caption"].split()) <= set(VOCAB)
        assert item["source"].shape == v.shape
    held = list(ClipDataset(ClipDatasetConfig(frames=1, size=SMALL, length=3, split="heldout")))
    assert [x["seed"] for x in held] == [HELDOUT_SEED, HELDOUT_SEED + 1, HELDOUT_SEED + 2]
