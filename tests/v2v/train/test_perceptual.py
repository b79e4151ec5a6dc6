"""The perceptual distance of the autoencoder stages (v2v/train/perceptual.py)."""

from __future__ import annotations

import pytest
import torch


def test_perceptual_distance_prefers_noise_to_blur() -> None:
    from v2v.train.perceptual import PerceptualDistance, available

    if available() is not None:
        pytest.skip(available())
    distance = PerceptualDistance()
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    assert distance(a, a).item() == 0.0
    blurred = torch.nn.functional.avg_pool2d(a, 3, 1, 1)
    assert distance(blurred, a) > distance(a + 0.1 * torch.randn_like(a), a)
