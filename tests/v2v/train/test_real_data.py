"""Real images and video for the autoencoder and the conditional recipe (v2v/train/real_data.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage", reason='the real training data needs the train extra: pip install -e ".[train]"')


def test_real_split_is_named_and_disjoint() -> None:
    from v2v.train.real_data import HELDOUT, load_real

    train, held = load_real("train"), load_real("heldout")
    assert {i.name for i in held} == set(HELDOUT)
    assert not {i.name for i in train} & set(HELDOUT)
    assert any(i.frames.shape[0] > 1 for i in train) and any(i.frames.shape[0] == 1 for i in train)
    for item in train + held:
        assert item.frames.dtype == np.uint8 and item.frames.ndim == 4 and item.frames.shape[-1] == 3


def test_real_clip_moves_and_keeps_detail() -> None:
    from v2v.train.real_data import load_real, real_clip

    rng = np.random.default_rng(0)
    still = next(i for i in load_real("train") if i.name == "rocket")
    clip = real_clip(still, rng, 9, (64, 48))
    assert clip.shape == (9, 48, 64, 3) and clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 1.0  # the view pans
    assert clip.std() > 10  # not a flat patch
