"""A patch discriminator for the `vae` stage (`AutoencoderConfig.adversarial`): sharp edges where L1/MSE blur.

A decoder trained on reconstruction losses alone draws the *average* of what a latent could mean: a
2-pixel black outline whose exact place is uncertain within an 8-pixel latent cell comes out as a grey
smear, and the toon style, whose outlines are what sets it apart from blocky, is lost even in a plain
encode → decode round trip. An adversarial term (as in the decoders of VQGAN, TAESD and taehv) lets the
decoder commit to one sharp edge. This module holds what is specific to it:

- `PatchDiscriminator`: frames [N, 3, H, W] -> one logit per 8×8 patch; spectral-normalised
  convolutions keep it from overpowering a small decoder;
- hinge losses for both players;
- `adaptive_weight`: the weight of the adversarial term against the reconstruction term, from the ratio
  of their gradient norms at the decoder's last layer (as in VQGAN), so one setting works whatever the
  scale of the reconstruction losses.

Frames are judged one by one (`sample_frames`): the temporal terms of the stage keep the sequence
steady. Shape letters: B clips, T frames, N frames judged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Frames [N, 3, H, W] in [-1, 1] (H, W multiples of 8) -> logits [N, 1, H/8, W/8]."""

    def __init__(self, dims: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        d1, d2, d3 = dims
        self.layers = nn.Sequential(
            spectral_norm(nn.Conv2d(3, d1, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),  # [N, d1, H/2, W/2]
            spectral_norm(nn.Conv2d(d1, d2, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),  # [N, d2, H/4, W/4]
            spectral_norm(nn.Conv2d(d2, d3, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),  # [N, d3, H/8, W/8]
            spectral_norm(nn.Conv2d(d3, d3, 3, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Conv2d(d3, 1, 1),  # [N, 1, H/8, W/8]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def sample_frames(video: Tensor, per_clip: int, generator: torch.Generator | None = None) -> Tensor:
    """video [B, 3, T, H, W] -> `per_clip` random frames of each clip, [B·per_clip, 3, H, W]."""
    B, _, T = video.shape[:3]
    idx = torch.stack([torch.randperm(T, generator=generator)[:per_clip] for _ in range(B)]).to(video.device)  # [B, n]
    frames = video.transpose(1, 2)[torch.arange(B, device=video.device)[:, None], idx]  # [B, n, 3, H, W]
    return frames.flatten(0, 1)  # [B·n, 3, H, W]


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss of the discriminator: real above +1, fake below −1."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Hinge loss of the generator (the decoder): raise the discriminator's logits on its frames."""
    return -fake_logits.mean()


def adaptive_weight(
    recon: Tensor, adversarial: Tensor, last_layer: Tensor, scale: float, max_weight: float = 1e4
) -> Tensor:
    """scale × ‖∇recon‖ / ‖∇adversarial‖ at `last_layer` (a weight both losses reach), detached."""
    g_rec = torch.autograd.grad(recon, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, last_layer, retain_graph=True)[0]
    return (scale * g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, max_weight).detach()
