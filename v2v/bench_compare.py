"""`bench --compare`: the same model and frames through three ways of streaming, timed per output frame.

    kv_cache    our StreamEngine: each chunk attends to the cached keys/values of earlier chunks (CausVid)
    recompute   no cache: every denoising step runs the DiT over the whole attention window again (the
                clean latents of the last window + sink frames, then the noisy chunk), block-causally
    per_frame   image-to-image, frame by frame, without temporal attention (StreamDiffusion's loop): every
                pixel frame is encoded alone, denoised alone and decoded alone

All three use the model's own strength, steps, encoder and decoder, so the difference is the attention
and the temporal compression. Pure compute; timing lives here, never in tests.

Shape letters: T pixel frames, C latent channels, F latent frames, h/w latent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from v2v.engine import EngineConfig, StreamEngine, sync
from v2v.models.bundle import ModelBundle
from v2v.sampling import add_noise, v2v_timesteps, x0_from_flow


@dataclass
class CompareResult:
    """Milliseconds per output frame of each way, and their ratios to the KV-cached stream."""

    ms_per_frame: dict[str, float]  # {"kv_cache", "recompute", "per_frame"}
    ratio_to_kv_cache: dict[str, float]  # each way's time over kv_cache's (> 1: slower than ours)

    def to_dict(self) -> dict:
        return {"ms_per_frame": self.ms_per_frame, "ratio_to_kv_cache": self.ratio_to_kv_cache}


def _denoise(
    bundle: ModelBundle,
    x: Tensor,
    z: Tensor,
    context: Tensor,
    steps: list[float],
    past: list[Tensor],
    gen: torch.Generator,
) -> Tensor:
    """Few-step denoising of x [1, C, F, h, w] with the clean `past` latent frames in front of it, without a
    cache: every step is one block-causal DiT call over past + chunk. -> x0 [1, C, F, h, w]."""
    dit = bundle.dit
    F = x.shape[2]
    source = z if dit.config.source_channels else None
    x0 = x
    for i, t in enumerate(steps):
        full = torch.cat([*past, x], 2)  # [1, C, P + F, h, w]
        tt = torch.tensor([[0.0] * (full.shape[2] - F) + [t] * F], device=x.device)  # [1, P + F]
        src = None if source is None else torch.cat([*past, source], 2)  # the past's clean latents are its source
        flow = dit(full, tt, context, source=src)[:, :, -F:]  # [1, C, F, h, w]
        x0 = x0_from_flow(x, flow, t / 1000.0).to(x.dtype)
        if i + 1 < len(steps):
            noise = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
            x = add_noise(x0, noise, steps[i + 1] / 1000.0)
    return x0


def _recompute(bundle: ModelBundle, clip: Tensor, config: EngineConfig) -> None:
    """The stream without a KV cache: the window's clean latents go through the DiT again at every step."""
    vae, fpb = bundle.vae, bundle.sampling.frames_per_block
    enc, dec = vae.stream_encoder(), vae.stream_decoder()
    context = bundle.text.encode([config.prompt]).to(bundle.device, bundle.dtype)
    steps = v2v_timesteps(bundle.sampling.timesteps, config.strength, bundle.sampling.v2v_offset, config.steps)
    window = bundle.window_frames + bundle.sink_frames
    gen = torch.Generator().manual_seed(config.seed)
    past: list[Tensor] = []
    first = 1 + vae.temporal_factor * (fpb - 1)
    i = 0
    while i < clip.shape[0]:
        n = first if i == 0 else vae.temporal_factor * fpb
        chunk = clip[i : i + n]
        if chunk.shape[0] < n:
            break
        z = enc(chunk.transpose(0, 1)[None])  # [1, C, F, h, w]
        noise = torch.randn(z.shape, generator=gen).to(z.device, z.dtype)
        x0 = _denoise(bundle, add_noise(z, noise, config.strength), z, context, steps, past, gen)
        past = (past + list(x0.split(1, 2)))[-window:] if window else []
        dec(x0)
        i += n


def _per_frame(bundle: ModelBundle, clip: Tensor, config: EngineConfig) -> None:
    """Image to image, one pixel frame at a time, no temporal attention and no temporal compression."""
    vae = bundle.vae
    context = bundle.text.encode([config.prompt]).to(bundle.device, bundle.dtype)
    steps = v2v_timesteps(bundle.sampling.timesteps, config.strength, bundle.sampling.v2v_offset, config.steps)
    gen = torch.Generator().manual_seed(config.seed)
    for frame in clip:
        z = vae.encode(frame[None, :, None])  # [1, C, 1, h, w]
        noise = torch.randn(z.shape, generator=gen).to(z.device, z.dtype)
        x0 = _denoise(bundle, add_noise(z, noise, config.strength), z, context, steps, [], gen)
        vae.decode(x0)


def _kv_cache(bundle: ModelBundle, clip: Tensor, config: EngineConfig) -> None:
    engine = StreamEngine(bundle, config)
    for frame in clip:
        engine.push(frame[None])
    engine.flush()


@torch.inference_mode()
def compare(bundle: ModelBundle, clip: Tensor, config: EngineConfig) -> CompareResult:
    """Time the three ways on the same frames clip [T, 3, H, W] in [-1, 1] (each after one untimed warm-up
    on the first frames)."""
    ways = {"kv_cache": _kv_cache, "recompute": _recompute, "per_frame": _per_frame}
    device = torch.device(bundle.device)
    clip = clip.to(device, bundle.dtype)  # the engine casts its input; the other two ways take it as given
    warm = clip[: min(clip.shape[0], 9)]
    ms: dict[str, float] = {}
    for name, way in ways.items():
        way(bundle, warm, config)
        sync(device)
        start = time.perf_counter()
        way(bundle, clip, config)
        sync(device)
        ms[name] = (time.perf_counter() - start) * 1000.0 / clip.shape[0]
    return CompareResult(ms, {k: v / ms["kv_cache"] for k, v in ms.items()})
