import numpy as np
import pytest
import torch

from v2v.train import data
from v2v.train.data import (
    _CONTENT_WORDS,
    HELDOUT_SEED,
    KINDS,
    STYLES,
    VOCAB,
    ClipDataset,
    ClipDatasetConfig,
    caption,
    rasterize_scene,
    render_clip,
    render_styles,
    sample_scene,
    scene_kind,
    short_caption,
    style_prompt,
)
from v2v.train.raster import rasterize
from v2v.train.scenes import SKY, SUN

SMALL = (64, 48)


def test_styles_and_api_names():
    assert {"blocky", "realistic", "sketch", "toon", "night", "oil", "watercolor", "neon"} <= set(STYLES)
    for name in (
        "render_clip",
        "render_styles",
        "caption",
        "style_prompt",
        "sample_scene",
        "ClipDataset",
        "VOCAB",
        "STYLES",
        "SceneSpec",
        "KINDS",
        "scene_kind",
        "rasterize_scene",
    ):
        assert hasattr(data, name)


def test_scene_kinds_drawn_from_the_seed():
    kinds = [scene_kind(seed) for seed in range(600)]
    share = {k: kinds.count(k) / len(kinds) for k in KINDS}
    assert 0.3 < share["side"] < 0.5 and 0.3 < share["voxel"] < 0.5 and 0.12 < share["topdown"] < 0.28
    for seed in range(30):
        scene = sample_scene(seed)
        assert scene.kind == scene_kind(seed)
        assert sample_scene(seed, kind=scene.kind) == scene
    side = next(s for s in range(100) if scene_kind(s) == "side")
    # A side-view seed gives exactly the side view the side sampler gives for it.
    from v2v.train.scenes import sample_scene as sample_side

    assert sample_scene(side) == sample_side(side)
    with pytest.raises(ValueError, match="kind"):
        sample_scene(1, kind="isometric")


@pytest.mark.parametrize("kind", KINDS)
def test_every_style_of_every_kind_is_a_sane_image(kind):
    scene = sample_scene(5, kind=kind)
    clips = render_styles(scene, STYLES, 2, (64, 48), start=20)
    for style, clip in clips.items():
        assert clip.shape == (2, 48, 64, 3) and clip.dtype == np.uint8, style
        x = clip.astype(np.float32)
        assert x.std() > 6, (kind, style)  # not a flat frame
        assert 8 < x.mean() < 248, (kind, style)
        # Not noise: neighbouring pixels are much more alike than random pairs of pixels.
        neighbour = np.abs(np.diff(x, axis=2)).mean()
        shuffled = np.abs(x.reshape(-1, 3) - np.random.default_rng(0).permutation(x.reshape(-1, 3))).mean()
        assert neighbour < 0.6 * shuffled, (kind, style, neighbour, shuffled)


def _stats(clip: np.ndarray) -> np.ndarray:
    """Mean colour, contrast and mean edge strength of a clip (a style's fingerprint)."""
    x = clip.astype(np.float32) / 255.0
    lum = x.mean(-1)
    edges = np.abs(np.diff(lum, axis=1)).mean() + np.abs(np.diff(lum, axis=2)).mean()
    return np.concatenate([x.reshape(-1, 3).mean(0), [lum.std(), 4.0 * edges]])


def test_new_styles_differ_from_each_other_and_from_the_old_ones():
    new = ("oil", "watercolor", "neon")
    for kind in KINDS:
        clips = render_styles(sample_scene(8, kind=kind), STYLES, 2, (96, 64))
        stats = {s: _stats(c) for s, c in clips.items()}
        for a in new:
            for b in STYLES:
                if a != b:
                    assert np.abs(stats[a] - stats[b]).max() > 0.03, (kind, a, b, stats[a], stats[b])
        assert stats["neon"][:3].mean() < stats["realistic"][:3].mean() - 0.1  # a dark scene
        assert stats["watercolor"][:3].mean() > stats["oil"][:3].mean()  # light washes


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
    scene = sample_scene(2, kind="side")
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
    other = render_clip(sample_scene(3, kind="side"), "realistic", 3, (128, 96))
    assert f1 > metrics.structure(other, clips["realistic"])["edge_f1"] + 0.1
    means = {s: clips[s].reshape(-1, 3).mean(0) for s in STYLES}
    stats = {s: _stats(clips[s]) for s in STYLES}
    for i, a in enumerate(STYLES):
        for b in STYLES[i + 1 :]:
            assert (
                np.abs(means[a] - means[b]).max() > 8
                or np.abs(clips[a].std() - clips[b].std()) > 8
                or np.abs(stats[a] - stats[b]).max() > 0.05
            ), (a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_rendering_in_pieces_equals_one_go(kind):
    scene = sample_scene(11, kind=kind)
    whole = render_styles(scene, STYLES, 20, SMALL, start=5)
    for style in STYLES:
        parts = [render_clip(scene, style, 7, SMALL, start=5), render_clip(scene, style, 13, SMALL, start=12)]
        np.testing.assert_array_equal(np.concatenate(parts), whole[style])


@pytest.mark.parametrize("kind", KINDS)
def test_wide_frames_are_not_distorted(kind):
    scene = sample_scene(1, kind=kind)
    clip = render_clip(scene, "toon", 2, (448, 256))
    assert clip.shape == (2, 256, 448, 3)
    # A wider frame sees more of the same world at the same scale: its centre is the square frame.
    for blocky in (False, True):
        wide = rasterize_scene(scene, 0, 2, (448, 256), blocky=blocky)
        square = rasterize_scene(scene, 0, 2, (256, 256), blocky=blocky)
        np.testing.assert_array_equal(wide.mat[:, :, 96:352], square.mat)
        np.testing.assert_array_equal(wide.inst[:, :, 96:352], square.inst)


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
    assert "night" in caption(sample_scene(0), "neon")
    assert "first person" in caption(sample_scene(0, kind="voxel"), "realistic")
    assert "voxel world" in caption(sample_scene(0, kind="voxel"), "blocky")
    assert "top down" in caption(sample_scene(0, kind="topdown"), "realistic")
    assert caption(sample_scene(0, kind="side"), "toon").split()[2:3] != ["first"]
    assert style_prompt("oil").startswith("an oil painting") and "neon" in style_prompt("neon")


def test_short_captions_name_the_style_and_nothing_of_the_scene():
    rng = np.random.default_rng(0)
    content = {w for phrase in _CONTENT_WORDS for w in phrase.split()} - {"a"}
    for style in STYLES:
        assert short_caption(style) == style_prompt(style)
        drawn = {short_caption(style, rng) for _ in range(200)}
        assert style_prompt(style) in drawn
        assert any("landscape" not in text for text in drawn)  # the style words alone
        assert any(text != style_prompt(style) and text.endswith(" landscape") for text in drawn)
        for text in drawn:
            assert set(text.split()) <= set(VOCAB), text  # no unknown word for the prompt encoder
            assert not set(text.split()) & content, text  # no scene content
            assert " with " not in text


def test_dataset_split_and_layout():
    cfg = ClipDatasetConfig(frames=5, size=SMALL, length=2, source_style="blocky")
    items = list(ClipDataset(cfg))
    assert len(items) == 2
    for item in items:
        v = item["video"]
        assert isinstance(v, torch.Tensor) and v.dtype == torch.float32
        assert v.shape == (3, 5, 48, 64)
        assert float(v.min()) >= -1.0 and float(v.max()) <= 1.0
        assert item["style"] in STYLES and item["seed"] < HELDOUT_SEED
        assert set(item["caption"].split()) <= set(VOCAB)
        assert item["source"].shape == v.shape
    held = list(ClipDataset(ClipDatasetConfig(frames=1, size=SMALL, length=3, split="heldout")))
    assert [x["seed"] for x in held] == [HELDOUT_SEED, HELDOUT_SEED + 1, HELDOUT_SEED + 2]
