"""TinyVAE: a fast small video autoencoder for real time on a CPU (the default model's VAE).

TAEHV-like: a per-frame 2-D conv encoder down to 1/8, groups of 4 frames merged in channels into one
latent frame; the decoder mirrors it and also sees the previous latent frame (a memory for temporal
smoothness). The first pixel frame forms a group alone (replicated to 4 frames internally), so
T = 1 + 4k pixel frames <-> F = 1 + k latent frames, like the Wan2.1 VAE. Each latent frame depends
only on its own group of pixels and each decoded group only on its latent and the previous one, so the
streaming coders give exactly the whole-clip result.

Implements the autoencoder protocol of docs/interfaces.md: `encode` returns normalised latents
((z - mean) / std with the per-channel statistics measured after training and stored in the config).

Shape letters: B batch, C channels, T pixel frames, F latent frames, G frames per group (4),
H/W pixels, h/w latent (H/8, W/8).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F_
from torch import Tensor, nn


@dataclass(frozen=True)
class TinyVAEConfig:
    z_dim: int = 16  # latent channels (the DiT's in_dim / out_dim)
    enc_dims: tuple[int, int, int] = (32, 48, 64)  # per-frame encoder widths at H/2, H/4, H/8
    dec_dims: tuple[int, int, int] = (96, 64, 32)  # per-frame decoder widths at H/8, H/4, H/2
    group_dim: int = 96  # width of the group (4-frame) trunk at 1/8 resolution
    enc_blocks: int = 0  # extra residual blocks of the frame encoder at 1/4 and at 1/8
    dec_blocks: int = 0  # extra residual blocks of the frame decoder at 1/8 and at 1/4
    latent_mean: tuple[float, ...] = ()  # per-channel latent mean (empty: 0), set after training
    latent_std: tuple[float, ...] = ()  # per-channel latent std (empty: 1), set after training

    @staticmethod
    def tiny() -> TinyVAEConfig:
        """A few-thousand-parameter TinyVAE for unit tests."""
        return TinyVAEConfig(z_dim=4, enc_dims=(8, 8, 8), dec_dims=(8, 8, 8), group_dim=8)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = _conv(dim, dim)
        self.conv2 = _conv(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F_.relu(self.conv1(F_.relu(x))))


def _blocks(dim: int, n: int) -> nn.Sequential:
    """n residual blocks (an empty Sequential, without parameters, when n = 0)."""
    return nn.Sequential(*(ResBlock(dim) for _ in range(n)))


class FrameEncoder(nn.Module):
    """One frame [N, 3, H, W] -> features [N, C, H/8, W/8].

    `layers` is the base network (its indices are the checkpoint keys of every TinyVAE); `deep4` and
    `deep8` are the optional extra blocks at 1/4 and 1/8 (`enc_blocks`), empty by default."""

    def __init__(self, dims: tuple[int, int, int], extra: int = 0) -> None:
        super().__init__()
        d1, d2, d3 = dims
        self.layers = nn.Sequential(
            nn.PixelUnshuffle(2),
            _conv(12, d1),
            nn.ReLU(),  # [N, d1, H/2, W/2]
            _conv(d1, d2, stride=2),
            nn.ReLU(),
            _conv(d2, d2),  # [N, d2, H/4, W/4]
            nn.ReLU(),
            _conv(d2, d3, stride=2),
            ResBlock(d3),  # [N, d3, H/8, W/8]
        )
        self.deep4, self.deep8 = _blocks(d2, extra), _blocks(d3, extra)

    def forward(self, x: Tensor) -> Tensor:
        x = self.deep4(self.layers[:6](x))  # [N, d2, H/4, W/4]
        return self.deep8(self.layers[6:](x))  # [N, d3, H/8, W/8]


class FrameDecoder(nn.Module):
    """Features [N, C, h, w] -> one frame [N, 3, 8h, 8w] (unclamped).

    `layers` is the base network; `deep8` and `deep4` are the optional extra blocks at 1/8 and 1/4
    (`dec_blocks`), empty by default."""

    def __init__(self, dims: tuple[int, int, int], extra: int = 0) -> None:
        super().__init__()
        d1, d2, d3 = dims
        self.layers = nn.Sequential(
            ResBlock(d1),
            nn.Upsample(scale_factor=2.0),
            _conv(d1, d2),
            nn.ReLU(),  # [N, d2, 2h, 2w]
            _conv(d2, d2),
            nn.ReLU(),
            nn.Upsample(scale_factor=2.0),  # [N, d2, 4h, 4w]
            _conv(d2, d3),
            nn.ReLU(),
            _conv(d3, 12),
            nn.PixelShuffle(2),  # [N, 3, 8h, 8w]
        )
        self.deep8, self.deep4 = _blocks(d1, extra), _blocks(d2, extra)

    def forward(self, x: Tensor) -> Tensor:
        x = self.deep8(self.layers[:1](x))  # [N, d1, h, w]
        x = self.deep4(self.layers[1:5](x))  # [N, d2, 2h, 2w]
        return self.layers[5:](x)  # [N, 3, 8h, 8w]


class TinyVAE(nn.Module):
    """The fast autoencoder. `encode`/`decode` work on whole clips, the stream coders on chunks."""

    spatial_factor = 8
    temporal_factor = 4
    latent_mean: Tensor  # [1, z, 1, 1, 1] buffer (not in the state dict: it comes from the config)
    latent_std: Tensor  # [1, z, 1, 1, 1] buffer

    def __init__(self, config: TinyVAEConfig = TinyVAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.z_dim = config.z_dim
        G, c, g = self.temporal_factor, config.enc_dims[-1], config.group_dim
        self.frame_encoder = FrameEncoder(config.enc_dims, config.enc_blocks)
        self.group_encoder = nn.Sequential(nn.Conv2d(G * c, g, 1), ResBlock(g), nn.ReLU(), _conv(g, config.z_dim))
        d = config.dec_dims[0]
        self.group_decoder = nn.Sequential(_conv(2 * config.z_dim, g), ResBlock(g), nn.ReLU(), _conv(g, G * d))
        self.frame_decoder = FrameDecoder(config.dec_dims, config.dec_blocks)
        mean = torch.tensor(config.latent_mean or [0.0] * config.z_dim)
        std = torch.tensor(config.latent_std or [1.0] * config.z_dim)
        assert mean.numel() == config.z_dim and std.numel() == config.z_dim, "latent stats size"
        self.register_buffer("latent_mean", mean.view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("latent_std", std.view(1, -1, 1, 1, 1), persistent=False)
        self.init_weights()

    def init_weights(self) -> None:
        """He-normal convs (PyTorch's default shrinks the signal ~100x through this depth and training
        stalls), residual branches start small."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:  # every conv here has one
                    nn.init.zeros_(m.bias)
            if isinstance(m, ResBlock):
                m.conv2.weight.data.mul_(0.2)

    # -- raw (unnormalised) group coders -------------------------------------------------------
    def encode_groups(self, groups: Tensor) -> Tensor:
        """groups [B, 3, K, 4, H, W] -> raw latents [B, z, K, h, w]."""
        B, _, K, G, H, W = groups.shape
        frames = groups.permute(0, 2, 3, 1, 4, 5).reshape(B * K * G, 3, H, W)  # [B*K*G, 3, H, W]
        feats = self.frame_encoder(frames)  # [B*K*G, c, h, w]
        c, h, w = feats.shape[1:]
        feats = feats.reshape(
            B * K, G * c, h, w
        )  # [B*K, G*c, h, w] (reshape: a conv keeps channels-last input strides)
        z = self.group_encoder(feats)  # [B*K, z, h, w]
        return z.reshape(B, K, -1, h, w).transpose(1, 2)  # [B, z, K, h, w]

    def decode_groups(self, z: Tensor, z_prev: Tensor) -> Tensor:
        """raw latents z, z_prev [B, z, K, h, w] (z_prev: the latent before each) -> [B, 3, K, 4, H, W]."""
        B, _, K, h, w = z.shape
        G = self.temporal_factor
        zz = torch.cat([z, z_prev], 1).transpose(1, 2).reshape(B * K, -1, h, w)  # [B*K, 2z, h, w]
        feats = self.group_decoder(zz)  # [B*K, G*d, h, w]
        feats = feats.reshape(B * K * G, -1, h, w)  # [B*K*G, d, h, w]
        frames = self.frame_decoder(feats)  # [B*K*G, 3, H, W]
        H, W = frames.shape[-2:]
        return frames.reshape(B, K, G, 3, H, W).permute(0, 3, 1, 2, 4, 5)  # [B, 3, K, G, H, W]

    # -- normalisation -------------------------------------------------------------------------
    def normalize(self, z: Tensor) -> Tensor:
        return (z - self.latent_mean) / self.latent_std

    def denormalize(self, z: Tensor) -> Tensor:
        return z * self.latent_std + self.latent_mean

    # -- whole clips -----------------------------------------------------------------------------
    @staticmethod
    def _check_video(video: Tensor) -> None:
        assert video.ndim == 5 and video.shape[1] == 3, f"expected [B, 3, T, H, W], got {tuple(video.shape)}"
        assert video.shape[-1] % 8 == 0 and video.shape[-2] % 8 == 0, f"H, W must be /8: {tuple(video.shape)}"

    def _group(self, video: Tensor) -> Tensor:
        """[B, 3, T, H, W], T = 1 + 4k -> groups [B, 3, 1 + k, 4, H, W] (frame 0 replicated)."""
        B, C, T, H, W = video.shape
        G = self.temporal_factor
        assert (T - 1) % G == 0, f"expected T = 1 + 4k pixel frames, got T = {T}"
        first = video[:, :, :1].expand(B, C, G, H, W)  # [B, 3, 4, H, W]
        rest = video[:, :, 1:]  # [B, 3, 4k, H, W]
        return torch.cat([first, rest], 2).view(B, C, 1 + (T - 1) // G, G, H, W)  # [B, 3, K, 4, H, W]

    def encode_raw(self, video: Tensor) -> Tensor:
        """video [B, 3, T, H, W] in [-1, 1], T = 1 + 4k -> raw (unnormalised) latents [B, z, 1+k, h, w]."""
        self._check_video(video)
        return self.encode_groups(self._group(video))

    def decode_raw(self, z: Tensor, z_before: Tensor | None = None) -> Tensor:
        """raw latents [B, z, F, h, w] -> [B, 3, K*4, H, W] unclamped groups (first group all 4 frames).

        z_before: the raw latent preceding z[:, :, 0] ([B, z, 1, h, w]); None means z[:, :, 0] is the
        first latent of the clip and serves as its own predecessor."""
        before = z[:, :, :1] if z_before is None else z_before
        z_prev = torch.cat([before, z[:, :, :-1]], 2)  # [B, z, F, h, w]
        groups = self.decode_groups(z, z_prev)  # [B, 3, F, 4, H, W]
        B, C, K, G, H, W = groups.shape
        return groups.reshape(B, C, K * G, H, W)  # [B, 3, 4F, H, W]

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """video float [B, 3, T, H, W] in [-1, 1], T = 1 + 4k -> normalised latents [B, z, 1+k, H/8, W/8]."""
        return self.normalize(self.encode_raw(video))

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """normalised latents [B, z, F, h, w] -> video [B, 3, 1 + 4(F-1), 8h, 8w] in [-1, 1]."""
        assert z.ndim == 5 and z.shape[1] == self.z_dim, f"expected [B, {self.z_dim}, F, h, w], got {tuple(z.shape)}"
        return self.decode_frames(self.denormalize(z)).clamp(-1.0, 1.0)  # [B, 3, 1+4(F-1), H, W]

    def decode_frames(self, z: Tensor) -> Tensor:
        """raw latents [B, z, F, h, w] -> unclamped video [B, 3, 1 + 4(F-1), 8h, 8w]: `decode_raw` without the
        first group's three padding frames (the 1 + 4k rule), with gradients (the training stages' decode)."""
        return self.decode_raw(z)[:, :, self.temporal_factor - 1 :]  # [B, 3, 1+4(F-1), H, W]

    # -- streaming -------------------------------------------------------------------------------
    def stream_encoder(self) -> TinyStreamEncoder:
        return TinyStreamEncoder(self)

    def stream_decoder(self) -> TinyStreamDecoder:
        return TinyStreamDecoder(self)


class TinyStreamEncoder:
    """First call: 1 + 4k frames (usually 1); later calls: 4k frames -> normalised latents [B, z, k', h, w]."""

    def __init__(self, vae: TinyVAE) -> None:
        self.vae = vae
        self.started = False

    def reset(self) -> None:
        self.started = False

    @torch.no_grad()
    def __call__(self, video: Tensor) -> Tensor:
        self.vae._check_video(video)
        if not self.started:
            self.started = True
            return self.vae.encode(video)
        B, C, T, H, W = video.shape
        G = self.vae.temporal_factor
        assert T % G == 0, f"after the first call, expected a multiple of {G} frames, got T = {T}"
        groups = video.view(B, C, T // G, G, H, W)  # [B, 3, K, 4, H, W]
        return self.vae.normalize(self.vae.encode_groups(groups))


class TinyStreamDecoder:
    """First latent -> 1 frame, each later latent -> 4 frames; keeps the previous latent."""

    def __init__(self, vae: TinyVAE) -> None:
        self.vae = vae
        self.last: Tensor | None = None

    def reset(self) -> None:
        self.last = None

    @torch.no_grad()
    def __call__(self, z: Tensor) -> Tensor:
        assert z.ndim == 5 and z.shape[1] == self.vae.z_dim, f"expected [B, z, F, h, w], got {tuple(z.shape)}"
        first = self.last is None
        raw = self.vae.denormalize(z)
        video = self.vae.decode_raw(raw, self.last)  # [B, 3, 4F, H, W]
        self.last = raw[:, :, -1:]
        if first:
            video = video[:, :, self.vae.temporal_factor - 1 :]  # [B, 3, 1+4(F-1), H, W]
        return video.clamp(-1.0, 1.0)
