import numpy as np
import pytest
import torch

from v2v.train.classifier import (
    DEFAULT_PATH,
    ClassifierConfig,
    StyleClassifier,
    classify,
    classify_proba,
    load_classifier,
    save_classifier,
    train_classifier,
)
from v2v.train.data import HELDOUT_SEED, STYLES, render_styles, sample_scene


def test_forward_shapes_and_inputs():
    model = StyleClassifier(ClassifierConfig(input_size=32, widths=(8, 16))).eval()
    frames = np.zeros((2, 40, 56, 3), np.uint8)
    probs = classify_proba(frames, model)
    assert probs.shape == (2, len(STYLES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    as_float = torch.full((2, 3, 40, 56), -1.0)  # the same black frames as floats in [-1, 1]
    assert classify(as_float, model) == classify(frames, model)
    with pytest.raises(ValueError):
        classify(np.zeros((2, 40, 56), np.uint8), model)


def test_train_save_load_roundtrip(tmp_path):
    torch.set_num_threads(1)
    model = train_classifier(
        steps=3, seed=0, scenes=2, batch=8, cfg=ClassifierConfig(input_size=32, widths=(8, 16)), log_every=0
    )
    path = tmp_path / "clf.safetensors"
    save_classifier(model, path)
    assert path.with_suffix(".json").exists()
    loaded = load_classifier(path)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.skipif(not DEFAULT_PATH.exists(), reason="shipped classifier weights not present")
def test_shipped_classifier_on_heldout_scenes():
    assert DEFAULT_PATH.stat().st_size < 1_000_000
    model = load_classifier()
    styles = model.cfg.styles  # the shipped weights know these styles, trained on side-view scenes
    correct = total = 0
    for seed in range(HELDOUT_SEED + 500, HELDOUT_SEED + 504):
        clips = render_styles(sample_scene(seed, kind="side"), styles, 1, (128, 96))
        for style in styles:
            correct += classify(clips[style], model)[0] == style
            total += 1
    assert correct / total >= 0.9
