"""What the autoencoder's gate measures (gates.py on real content, v2v/metrics.py's sharpness), and the TinyVAE's
optional extra blocks."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from v2v import metrics
from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
from v2v.train import gates


def _blur(clip: np.ndarray) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in clip])


def test_gate_metrics_reject_blur_mean_and_frozen() -> None:
    pytest.importorskip("skimage", reason='the real training data needs the train extra: pip install -e ".[train]"')
    clips = gates.held_out_real(side=64)
    same = gates.round_trip_scores(lambda c: c, clips)
    assert same["edge_corr"] > 0.99 and same["sharpness"] == pytest.approx(1.0)
    blurred = gates.round_trip_scores(_blur, clips)
    assert blurred["sharpness"] < gates.AE_GATES["real_sharpness"]
    assert blurred["edge_corr"] < same["edge_corr"]
    mean = gates.round_trip_scores(
        lambda c: np.broadcast_to(c.mean((0, 1, 2), keepdims=True).astype(np.uint8), c.shape).copy(), clips
    )
    assert mean["psnr"] < gates.AE_GATES["real_psnr"] and mean["sharpness"] < 0.01
    frozen = gates.round_trip_scores(
        lambda c: np.broadcast_to(c[:1], c.shape).copy(), {k: v for k, v in clips.items() if v.shape[0] > 1}
    )
    assert frozen["psnr"] < gates.AE_GATES["real_psnr"]


def test_sharpness_orders_blur_and_noise() -> None:
    rng = np.random.default_rng(1)
    frame = (rng.random((1, 64, 64, 3)) * 255).astype(np.uint8)
    assert metrics.sharpness(_blur(frame), frame) < 0.2
    noisy = np.clip(frame + rng.normal(0, 30, frame.shape), 0, 255).astype(np.uint8)
    assert metrics.sharpness(noisy, frame) > 1.0


def test_extra_blocks_default_to_the_base_network() -> None:
    base = TinyVAE(TinyVAEConfig.tiny())
    deep = TinyVAE(dataclasses.replace(TinyVAEConfig.tiny(), enc_blocks=1, dec_blocks=1))
    assert set(base.state_dict()) < set(deep.state_dict())  # old checkpoints' keys are all still there
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    assert deep.decode(deep.encode(x)).shape == x.shape
