"""The `vae` stage's losses (v2v/train/vae_stage.py)."""

from __future__ import annotations

import torch

from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
from v2v.train.common import AutoencoderConfig
from v2v.train.vae_stage import reconstruction_loss, spectrum_l1


def test_sharp_losses_train_a_step() -> None:
    vae = TinyVAE(TinyVAEConfig.tiny())
    video = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    ae = AutoencoderConfig(mse=0.0, fft=0.1)
    loss, z, recon = reconstruction_loss(vae, video, ae)
    loss.backward()
    assert recon.shape == video.shape and torch.isfinite(loss)
    assert all(p.grad is not None for p in vae.parameters())
    assert spectrum_l1(video, video) == 0
    assert spectrum_l1(torch.nn.functional.avg_pool2d(video[0], 3, 1, 1), video[0]) > 0.01
