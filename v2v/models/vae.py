"""WanVAE: the Wan2.1 causal 3-D video autoencoder (`Wan2.1_VAE.pth`), with streaming coders.

The encoder maps T = 1 + 4k pixel frames to F = 1 + k latent frames at 1/8 of the resolution; the
decoder inverts it. Every 3-D conv is causal in time (zero frames padded on the left), so a frame
depends only on itself and earlier frames; the two temporal resamplers treat the first frame alone
(the encoder passes it through, the decoder does not double it). See wan/modules/vae.py in
github.com/Wan-Video/Wan2.1 for the original.

One set of weights, two executors (as in taehv):
- whole clip: `encode` / `decode` run the clip through the network in one call on fresh caches;
- streaming: `stream_encoder()` / `stream_decoder()` keep the caches (`_Stream`) between calls.
Both go through the same `_encode_chunk` / `_decode_chunk`, and every layer is written so that a
chunked run equals the one-call run: a causal conv keeps the last (kernel - stride) frames it was fed
(2 for the 3-frame convs, Wan's CACHE_T = 2), the temporal resamplers remember whether they have seen
the first frame. Memory of the whole-clip executor grows with T; stream long clips.

Implements the autoencoder protocol of docs/interfaces.md. Module attribute names follow the keys of
the public checkpoint, so `Wan2.1_VAE.pth` loads with `load_state_dict` without renaming.

Shape letters: B batch, C channels, T pixel frames, F latent frames, H/W pixels, h/w latent
(H/8, W/8), S frames at some inner level (T or F), L pixels of one frame in attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F_
from torch import Tensor, nn

# Wan2.1's per-channel statistics of the encoder mean (wan/modules/vae.py, class WanVAE).
WAN_LATENT_MEAN = (
    -0.7571,
    -0.7089,
    -0.9113,
    0.1075,
    -0.1745,
    0.9653,
    -0.1517,
    1.5508,
    0.4134,
    -0.0715,
    0.5517,
    -0.3632,
    -0.1922,
    -0.9497,
    0.2503,
    -0.2921,
)
WAN_LATENT_STD = (
    2.8184,
    1.4541,
    2.3275,
    2.6558,
    1.2196,
    1.7708,
    2.6052,
    2.0743,
    3.2687,
    2.1526,
    2.8652,
    1.5579,
    1.6382,
    1.1253,
    2.8251,
    1.9160,
)


@dataclass(frozen=True)
class VAEConfig:
    base_dim: int = 96  # channels at full resolution (Wan's `dim`)
    z_dim: int = 16  # latent channels (the encoder emits 2·z_dim: mu, logvar)
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)  # channel multiplier per level; len-1 halvings in space
    num_res_blocks: int = 2  # residual blocks per encoder level (decoder: one more)
    temporal_downsample: tuple[bool, ...] = (False, True, True)  # per encoder halving: also in time
    normalize_latents: bool = True  # encode returns (mu - mean) / std; decode inverts it
    # Per-channel statistics (len z_dim). Wan's constants describe only the 16-channel Wan latent
    # space: a config with another z_dim that keeps them gets mean 0 / std 1 (the identity).
    latent_mean: tuple[float, ...] = WAN_LATENT_MEAN
    latent_std: tuple[float, ...] = WAN_LATENT_STD

    def __post_init__(self) -> None:
        if len(self.temporal_downsample) != len(self.dim_mult) - 1:
            raise ValueError(
                f"temporal_downsample needs one flag per halving ({len(self.dim_mult) - 1}), "
                f"got {self.temporal_downsample}"
            )
        stats = (self.latent_mean, self.latent_std)
        if stats == (WAN_LATENT_MEAN, WAN_LATENT_STD) and self.z_dim != len(WAN_LATENT_MEAN):
            object.__setattr__(self, "latent_mean", (0.0,) * self.z_dim)
            object.__setattr__(self, "latent_std", (1.0,) * self.z_dim)
        elif len(self.latent_mean) != self.z_dim or len(self.latent_std) != self.z_dim:
            raise ValueError(
                f"latent_mean / latent_std need z_dim = {self.z_dim} values, got "
                f"{len(self.latent_mean)} / {len(self.latent_std)}"
            )


class _Stream:
    """The caches of one stream, keyed by the module that owns them (modules hold no state).

    `past[conv]`: the last (kernel - stride) frames fed to a causal conv (zeros before the start);
    `seen`: the temporal resamplers that have already handled the stream's first frame.
    """

    def __init__(self) -> None:
        self.past: dict[nn.Module, Tensor] = {}
        self.seen: set[nn.Module] = set()


class CausalConv3d(nn.Conv3d):
    """A 3-D conv, causal in time: `time_pad` zero frames before the stream's first frame, then the
    frames kept from the previous chunk. Spatial padding is the conv's own (symmetric, zeros)."""

    def __init__(
        self, cin: int, cout: int, kernel: tuple[int, int, int], stride: int = 1, time_pad: int | None = None
    ) -> None:
        super().__init__(cin, cout, kernel, stride=(stride, 1, 1), padding=(0, kernel[1] // 2, kernel[2] // 2))
        self.time_pad = kernel[0] - 1 if time_pad is None else time_pad
        self.keep = kernel[0] - stride  # frames the next chunk's first window reaches back to

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:  # type: ignore[override]  # also the stream's caches
        if self.keep > 0:
            B, C, _, H, W = x.shape
            past = stream.past.get(self)
            if past is None:
                past = x.new_zeros(B, C, self.time_pad, H, W)  # [B, C, pad, H, W]
            x = torch.cat([past, x], dim=2)  # [B, C, pad + S, H, W]
            stream.past[self] = x[:, :, x.shape[2] - self.keep :].clone()  # [B, C, keep, H, W]
        return super().forward(x)


def _conv3(cin: int, cout: int) -> CausalConv3d:
    return CausalConv3d(cin, cout, (3, 3, 3))


def _conv1(cin: int, cout: int) -> CausalConv3d:
    return CausalConv3d(cin, cout, (1, 1, 1))


class RMSNorm(nn.Module):
    """x / ||x|| over channels · sqrt(C) · gamma (Wan's RMS_norm); `image` drops the time axis."""

    def __init__(self, dim: int, image: bool = False) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, 1, 1) if image else torch.ones(dim, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return F_.normalize(x, dim=1) * self.scale * self.gamma


def _run(layers: nn.Sequential, x: Tensor, stream: _Stream) -> Tensor:
    for layer in layers:
        x = layer(x, stream) if isinstance(layer, CausalConv3d) else layer(x)
    return x


def _frames_to_batch(x: Tensor) -> Tensor:
    B, C, S, H, W = x.shape
    return x.transpose(1, 2).reshape(B * S, C, H, W)  # [B*S, C, H, W]


def _batch_to_frames(x: Tensor, B: int) -> Tensor:
    BS, C, H, W = x.shape
    return x.reshape(B, BS // B, C, H, W).transpose(1, 2)  # [B, C, S, H, W]


class ResidualBlock(nn.Module):
    """norm, SiLU, conv, norm, SiLU, dropout (p = 0; kept for the checkpoint's indices), conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(cin), nn.SiLU(), _conv3(cin, cout), RMSNorm(cout), nn.SiLU(), nn.Dropout(0.0), _conv3(cout, cout)
        )
        self.shortcut = _conv1(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:
        h = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(x, stream)
        return h + _run(self.residual, x, stream)


class AttentionBlock(nn.Module):
    """Single-head self-attention among the pixels of each frame (no attention across time)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, image=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:
        B, C, S, H, W = x.shape
        y = self.to_qkv(self.norm(_frames_to_batch(x)))  # [B*S, 3C, H, W]
        q, k, v = y.reshape(B * S, 3, C, H * W).permute(1, 0, 3, 2).unsqueeze(2)  # 3 × [B*S, 1, L, C]
        y = F_.scaled_dot_product_attention(q, k, v)  # [B*S, 1, L, C]
        y = y.squeeze(1).transpose(1, 2).reshape(B * S, C, H, W)  # [B*S, C, H, W]
        return x + _batch_to_frames(self.proj(y), B)


class Downsample(nn.Module):
    """Halve H, W (zero-pad right/bottom, 3×3 conv stride 2); with `temporal`, then halve time.

    In time the first frame passes through alone; later frames go through a 3-frame conv of stride 2
    over [first, 1, 2], [2, 3, 4], ..., so each later chunk must bring an even number of frames.
    """

    def __init__(self, dim: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=2, time_pad=0) if temporal else None

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:
        B = x.shape[0]
        x = _batch_to_frames(self.resample(_frames_to_batch(x)), B)  # [B, C, S, H/2, W/2]
        if self.time_conv is None:
            return x
        head = x[:, :, :0]  # [B, C, 0, H/2, W/2]
        if self not in stream.seen:
            stream.seen.add(self)
            head, x = x[:, :, :1], x[:, :, 1:]  # [B, C, 1, ...], [B, C, S-1, ...]
            stream.past[self.time_conv] = head.clone()  # the first window starts at frame 0
        if x.shape[2] == 0:
            return head
        return torch.cat([head, self.time_conv(x, stream)], dim=2)  # [B, C, S', H/2, W/2]


class Upsample(nn.Module):
    """With `temporal`, double time first; then double H, W (nearest) and halve channels (3×3 conv).

    In time the first frame stays one frame; each later frame becomes two, the 2·C channels of a causal
    3-frame conv over the later frames only (zeros before frame 1, Wan's "Rep" state).
    """

    def __init__(self, dim: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(
            nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"), nn.Conv2d(dim, dim // 2, 3, padding=1)
        )
        self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1)) if temporal else None

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:
        B, C, _, H, W = x.shape
        if self.time_conv is not None:
            head = x[:, :, :0]  # [B, C, 0, H, W]
            if self not in stream.seen:
                stream.seen.add(self)
                head, x = x[:, :, :1], x[:, :, 1:]  # [B, C, 1, H, W], [B, C, S-1, H, W]
            if x.shape[2] > 0:
                S = x.shape[2]
                y = self.time_conv(x, stream).reshape(B, 2, C, S, H, W)  # [B, 2, C, S, H, W]
                x = y.permute(0, 2, 3, 1, 4, 5).reshape(B, C, 2 * S, H, W)  # [B, C, 2S, H, W]
            x = torch.cat([head, x], dim=2)  # [B, C, S', H, W]
        y = self.resample(_frames_to_batch(x))  # [B*S', C/2, 2H, 2W]
        return _batch_to_frames(y, B)  # [B, C/2, S', 2H, 2W]


class Encoder(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        dims = [config.base_dim * m for m in (1, *config.dim_mult)]
        self.conv1 = _conv3(3, dims[0])
        blocks: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            for _ in range(config.num_res_blocks):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i < len(config.dim_mult) - 1:
                blocks.append(Downsample(cout, config.temporal_downsample[i]))
        self.downsamples = nn.Sequential(*blocks)
        self.middle = nn.Sequential(
            ResidualBlock(dims[-1], dims[-1]), AttentionBlock(dims[-1]), ResidualBlock(dims[-1], dims[-1])
        )
        self.head = nn.Sequential(RMSNorm(dims[-1]), nn.SiLU(), _conv3(dims[-1], 2 * config.z_dim))

    def forward(self, x: Tensor, stream: _Stream) -> Tensor:
        x = self.conv1(x, stream)  # [B, C, T, H, W]
        for block in (*self.downsamples, *self.middle):
            x = block(x, stream)  # [B, C, S, H/2^i, W/2^i]
        return _run(self.head, x, stream)  # [B, 2z, F, h, w]


class Decoder(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        mult = config.dim_mult
        dims = [config.base_dim * m for m in (mult[-1], *reversed(mult))]
        temporal = tuple(reversed(config.temporal_downsample))
        self.conv1 = _conv3(config.z_dim, dims[0])
        self.middle = nn.Sequential(
            ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]), ResidualBlock(dims[0], dims[0])
        )
        blocks: list[nn.Module] = []
        cin = dims[0]
        for i, cout in enumerate(dims[1:]):
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i < len(mult) - 1:
                blocks.append(Upsample(cout, temporal[i]))
                cin = cout // 2  # the upsampling conv halves channels
        self.upsamples = nn.Sequential(*blocks)
        self.head = nn.Sequential(RMSNorm(dims[-1]), nn.SiLU(), _conv3(dims[-1], 3))

    def forward(self, z: Tensor, stream: _Stream) -> Tensor:
        x = self.conv1(z, stream)  # [B, C, F, h, w]
        for block in (*self.middle, *self.upsamples):
            x = block(x, stream)  # [B, C, S, h·2^i, w·2^i]
        return _run(self.head, x, stream)  # [B, 3, T, H, W]


class WanVAE(nn.Module):
    """The Wan2.1 VAE. Pixels float [B, 3, T, H, W] in [-1, 1] <-> latents [B, z_dim, F, h, w]."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.z_dim = config.z_dim
        self.spatial_factor = 2 ** (len(config.dim_mult) - 1)  # 8
        self.temporal_factor = 2 ** sum(config.temporal_downsample)  # 4
        self.encoder = Encoder(config)
        self.conv1 = _conv1(2 * config.z_dim, 2 * config.z_dim)  # encoder output -> (mu, logvar)
        self.conv2 = _conv1(config.z_dim, config.z_dim)  # latent -> decoder input
        self.decoder = Decoder(config)

    # -- whole clip ---------------------------------------------------------------------------

    def encode(self, video: Tensor) -> Tensor:
        """float [B, 3, T, H, W] in [-1, 1], T = 1 + 4k, H and W multiples of 8 -> [B, z, 1 + k, h, w]
        (the mean, normalised when `config.normalize_latents`). Runs the clip in one call."""
        self._check_video(video, first=True, where="WanVAE.encode")
        return self._encode_chunk(video, _Stream())

    def decode(self, z: Tensor) -> Tensor:
        """[B, z, F, h, w] (normalised as `encode` returns it) -> float [B, 3, 1 + 4(F-1), 8h, 8w],
        clamped to [-1, 1]. Runs the clip in one call."""
        self._check_latents(z, where="WanVAE.decode")
        return self._decode_chunk(z, _Stream())

    # -- streaming ----------------------------------------------------------------------------

    def stream_encoder(self) -> StreamEncoder:
        """A stateful encoder: first call 1 + 4k frames (usually 1), then 4k frames per call."""
        return StreamEncoder(self)

    def stream_decoder(self) -> StreamDecoder:
        """A stateful decoder: any number of latents per call; the first latent -> 1 frame, later -> 4."""
        return StreamDecoder(self)

    # -- shared by both executors -------------------------------------------------------------

    def _encode_chunk(self, video: Tensor, stream: _Stream) -> Tensor:
        mu = self.conv1(self.encoder(video, stream), stream)[:, : self.z_dim]  # [B, z, F, h, w]
        if not self.config.normalize_latents:
            return mu
        mean, std = self._latent_stats(mu)
        return (mu - mean) / std

    def _decode_chunk(self, z: Tensor, stream: _Stream) -> Tensor:
        if self.config.normalize_latents:
            mean, std = self._latent_stats(z)
            z = z * std + mean
        x = self.decoder(self.conv2(z, stream), stream)  # [B, 3, T, H, W]
        return x.clamp(-1.0, 1.0)

    def _latent_stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        # Built from the config per call (16 numbers), so meta-device construction and assign-loading
        # never leave them behind on the wrong device.
        shape = (1, self.z_dim, 1, 1, 1)
        mean = torch.tensor(self.config.latent_mean, device=like.device, dtype=like.dtype).view(shape)
        std = torch.tensor(self.config.latent_std, device=like.device, dtype=like.dtype).view(shape)
        return mean, std

    def _check_video(self, video: Tensor, first: bool, where: str) -> None:
        k = self.temporal_factor
        ok = (
            video.ndim == 5
            and video.shape[1] == 3
            and video.is_floating_point()
            and video.shape[-2] % self.spatial_factor == 0
            and video.shape[-1] % self.spatial_factor == 0
        )
        frames = video.shape[2] if video.ndim == 5 else 0
        ok = ok and frames > 0 and frames % k == (1 % k if first else 0)
        if not ok:
            rule = f"T = 1 + {k}n" if first else f"T = {k}n, n >= 1"
            raise ValueError(
                f"{where} expects float video [B, 3, T, H, W] with {rule} and H, W "
                f"multiples of {self.spatial_factor}; got {tuple(video.shape)} {video.dtype}"
            )

    def _check_latents(self, z: Tensor, where: str) -> None:
        if z.ndim != 5 or z.shape[1] != self.z_dim or z.shape[2] < 1 or not z.is_floating_point():
            raise ValueError(
                f"{where} expects float latents [B, {self.z_dim}, F, h, w] with F >= 1; got {tuple(z.shape)} {z.dtype}"
            )


class _StreamCoder:
    """Shared bookkeeping of the two stream coders: the caches and the stream's B, H, W."""

    def __init__(self, vae: WanVAE) -> None:
        self.vae = vae
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next call is a first call again."""
        self.stream = _Stream()
        self.layout: tuple[int, int, int] | None = None

    def _check_layout(self, x: Tensor, where: str) -> None:
        layout = (x.shape[0], x.shape[-2], x.shape[-1])
        if self.layout is not None and layout != self.layout:
            raise ValueError(
                f"{where}: batch and size must stay (B, H, W) = {self.layout} within a "
                f"stream (reset() to change); got {tuple(x.shape)}"
            )
        self.layout = layout


class StreamEncoder(_StreamCoder):
    def __call__(self, video: Tensor) -> Tensor:
        """float [B, 3, T, H, W] in [-1, 1] -> latents [B, z, T // 4 (+1 on the first call), h, w]."""
        self.vae._check_video(video, first=self.layout is None, where="StreamEncoder")
        self._check_layout(video, "StreamEncoder")
        return self.vae._encode_chunk(video, self.stream)


class StreamDecoder(_StreamCoder):
    def __call__(self, z: Tensor) -> Tensor:
        """latents [B, z, F, h, w] -> float [B, 3, 4F (-3 on the first call), H, W] in [-1, 1]."""
        self.vae._check_latents(z, where="StreamDecoder")
        self._check_layout(z, "StreamDecoder")
        return self.vae._decode_chunk(z, self.stream)
