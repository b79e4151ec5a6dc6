"""StreamDiffusionV2's side of the side-by-side: its own `CausalStreamInferencePipeline` (PyPI
`streamdiffusionv2` 0.1.1, imported from its separate venv, never copied) on the driver's tiny student.

Run by sdv2_side_by_side.py in that venv: `python bench/side_sdv2.py WORKDIR`. Reads the driver's files in
WORKDIR, writes result_sdv2.json (and flow_sdv2.pt: one DiT pass on the check input).

Their wrappers load the 1.3B folder by name, so the pipeline is built with these patches, made in this process
only (`patch_loaders`):
- `WanModel.from_pretrained` and `CausalWanModel.from_pretrained` build their own classes at the spec's size
  (the causal one then takes the driver's weights with a strict `load_state_dict`: same names, same shapes);
- the text-encoder and VAE factories that `CausalStreamInferencePipeline.__init__` calls return stand-ins:
  the driver's fixed prompt embedding (no umT5) and v2v's TinyVAE with the driver's weights (the VAE both sides
  use), behind their VAE wrapper's streaming method names;
- `num_transformer_blocks` and `num_heads`, which their `__init__` sets from the 1.3B model type, are set to
  the spec's depth and heads.
Without flash-attn their attention runs through the SDPA fallback their code ships (`attention_with_kvcache_
fallback`, `_sdpa_attention_fallback`); its warning on every call is silenced.

The chunk loop follows their single-GPU `run_inference` (streamv2v/inference.py): the first 5 frames go through
`prepare` (all steps in turn on 2 latent frames, filling the caches), then each 4-frame chunk through
`inference_stream`, which denoises the newest chunk and every older chunk still in flight in one DiT call of
batch = steps, and hands back the chunk that entered steps − 1 calls earlier. Noise strength follows their
motion rule. After the last input chunk, steps − 1 calls of fresh noise bring the last chunks out.

Shape letters: B batch, T pixel frames, F latent frames, z latent channels, H/W pixels, h/w latent.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from bench_spec import (
    LATENT_CHANNELS,
    SDV2_STEPS,
    SDV2_TREFRESH,
    ChunkTime,
    Clock,
    Spec,
    load_tensor,
    setup_worker,
    summarize,
    sync,
)
from torch import Tensor, nn


class FixedPrompt(nn.Module):
    """Their text encoder's interface (`forward(text_prompts) -> {"prompt_embeds": [B, L, text_dim]}`) over the
    driver's embedding."""

    def __init__(self, context: Tensor) -> None:
        super().__init__()
        self.register_buffer("context", context)  # [1, L, text_dim]

    def forward(self, text_prompts: list[str]) -> dict[str, Tensor]:
        return {"prompt_embeds": self.context.expand(len(text_prompts), -1, -1).clone()}


class SharedVAE(nn.Module):
    """Their VAE wrapper's streaming methods over v2v's TinyVAE (the same weights as v2v's side)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae
        self.reset()

    def reset(self) -> None:
        self.encoder = self.vae.stream_encoder()
        self.decoder = self.vae.stream_decoder()

    def stream_encode(self, video: Tensor) -> Tensor:
        """[B, 3, T, H, W] in [-1, 1] -> latents [B, z, F, h, w] (as their WanVAEWrapper.stream_encode)."""
        return self.encoder(video)

    def stream_decode_to_pixel(self, latent: Tensor) -> Tensor:
        """[B, F, z, h, w] -> [B, T, 3, H, W] in [-1, 1] (as their WanVAEWrapper.stream_decode_to_pixel)."""
        return self.decoder(latent.transpose(1, 2)).transpose(1, 2)


def model_kwargs(spec: Spec) -> dict[str, Any]:
    """Their CausalWanModel / WanModel constructor arguments for the spec's student (Wan2.1's other settings)."""
    return dict(
        model_type="t2v",
        patch_size=(1, 2, 2),
        text_len=spec.text_len,
        in_dim=LATENT_CHANNELS,
        dim=spec.dim,
        ffn_dim=spec.ffn_dim,
        freq_dim=256,
        text_dim=spec.text_dim,
        out_dim=LATENT_CHANNELS,
        num_heads=spec.heads,
        num_layers=spec.layers,
        qk_norm=True,
        cross_attn_norm=True,
        eps=1e-6,
    )


def patch_loaders(spec: Spec, context: Tensor, vae: nn.Module) -> None:
    """The patches listed in the module docstring, in this process."""
    import models.wan.causal_stream_inference as csi
    from models.wan.causal_model import CausalWanModel
    from models.wan.wan_base.modules.model import WanModel

    kwargs = model_kwargs(spec)

    def build(cls: type, *_args: Any, **_kw: Any) -> nn.Module:
        return cls(**kwargs)

    WanModel.from_pretrained = classmethod(build)
    CausalWanModel.from_pretrained = classmethod(build)
    csi.get_text_encoder_wrapper = lambda model_name: lambda model_type: FixedPrompt(context)
    csi.get_vae_wrapper = lambda model_name: lambda model_type: SharedVAE(vae)
    warnings.filterwarnings("ignore", message="flash_attn is not installed")


def build_pipeline(spec: Spec, folder: Path, device: torch.device) -> Any:
    """Their CausalStreamInferencePipeline on the spec's student, with the driver's DiT weights."""
    from models.wan.causal_stream_inference import CausalStreamInferencePipeline

    args = SimpleNamespace(
        model_type="T2V-1.3B",  # the only names their __init__ accepts; the depth and heads are set below
        model_name="wan",
        generator_name="causal_wan",
        denoising_step_list=[int(t) for t in SDV2_STEPS[: spec.steps]] + [0],
        t2v=False,
        warp_denoising_step=False,
        height=spec.height,
        width=spec.width,
        num_kv_cache=spec.cache_frames,
        num_sink_tokens=spec.sink_frames,
        adapt_sink_threshold=spec.sink_refresh,
        num_frame_per_block=1,
        use_taehv=False,
    )
    pipe = CausalStreamInferencePipeline(args, device=str(device))
    pipe.num_transformer_blocks, pipe.num_heads = spec.layers, spec.heads
    pipe.generator.model.load_state_dict(load_tensor(folder, "dit", device), strict=True)
    pipe.eval().requires_grad_(False)
    return pipe.to(device=device, dtype=spec.torch_dtype())


def check_flow(pipe: Any, spec: Spec, folder: Path, device: torch.device) -> Tensor:
    """One pass of their causal model over the driver's check latent at t = 700 with empty caches -> flow
    [1, z, 1, h, w]."""
    dtype = spec.torch_dtype()
    x = load_tensor(folder, "check_x", device, dtype)  # [1, z, 1, h, w]
    context = load_tensor(folder, "context", device, dtype)  # [1, L, text_dim]
    pipe._initialize_kv_cache(batch_size=1, dtype=dtype, device=device)
    pipe._initialize_crossattn_cache(batch_size=1, dtype=dtype, device=device)
    flow = pipe.generator.model(
        x,
        t=torch.full((1, 1), 700, device=device, dtype=torch.long),  # [B, F]
        context=context,
        seq_len=pipe.generator.seq_len,
        kv_cache=pipe.kv_cache1,
        crossattn_cache=pipe.crossattn_cache,
        current_start=torch.tensor([0], device=device),
        current_end=torch.tensor([spec.frame_tokens], device=device),
    )
    return flow.float().cpu()


def motion_strength(prev: Tensor, chunk: Tensor, s0: float, s_prev: float) -> float:
    """Their motion rule: m = clamp(max over frames of RMS(frame_t − frame_t−1) / 0.2, 0, 1),
    s = 0.9·(s0 − 0.1·m) + 0.1·s_prev. prev [1, 3, 1, H, W], chunk [1, 3, T, H, W]."""
    seq = torch.cat([prev, chunk], 2).float()  # [1, 3, T + 1, H, W]
    rms = (seq[:, :, 1:] - seq[:, :, :-1]).pow(2).mean(dim=(0, 1, 3, 4)).sqrt()  # [T]
    m = float((rms.max() / 0.2).clamp(0, 1))
    return (s0 - 0.1 * m) * 0.9 + s_prev * 0.1


def noisy(latents: Tensor, s: float) -> Tensor:
    """[B, F, z, h, w] latents noised to strength s, as their driver does (global RNG)."""
    return torch.randn_like(latents) * s + latents * (1 - s)


def stream(spec: Spec, folder: Path, device: torch.device, clip: Tensor) -> tuple[float, list[ChunkTime]]:
    """clip [1, 3, T, H, W] through a new pipeline -> (wall seconds, chunk times)."""
    pipe = build_pipeline(spec, folder, device)
    vae, n, fsl = pipe.vae, len(pipe.denoising_step_list), pipe.frame_seq_length
    T, s = clip.shape[2], spec.strength
    chunks: list[ChunkTime] = []
    clock, stage = Clock(device), Clock(device)
    clock.start()
    start = time.perf_counter()
    # the first chunk: 1 + 4 frames -> 2 latent frames, every step in turn (their prepare)
    stage.start()
    x = clip[:, :, :5]  # [1, 3, 5, H, W]
    lat = vae.stream_encode(x).transpose(1, 2)  # [1, 2, z, h, w]
    enc = stage.ms()
    lat = noisy(lat, s)
    stage.start()
    out = pipe.prepare(
        text_prompts=[spec.prompt],
        device=device,
        dtype=spec.torch_dtype(),
        block_mode="input",
        noise=lat,
        current_start=0,
        current_end=fsl * lat.shape[1],
    )
    dit = stage.ms()
    stage.start()
    frames = vae.stream_decode_to_pixel(out).shape[1]
    chunks.append(ChunkTime(0, frames, clock.ms(), enc, dit, stage.ms()))
    end, idx, calls, left = fsl * lat.shape[1], 5, 0, (T - 5) // 4
    prev = clip[:, :, 4:5]  # [1, 3, 1, H, W]
    while left:
        clock.start()
        begin, end = end, end + fsl
        if begin // fsl >= SDV2_TREFRESH:  # their live stream's re-base (run_stream_batch)
            begin = pipe.kv_cache_length - fsl
            end = begin + fsl
        enc, step = 0.0, None
        if idx < T:
            x = clip[:, :, idx : idx + 4]  # [1, 3, 4, H, W]
            s = motion_strength(prev, x, spec.strength, s)
            step = int(1000 * s) - 100
            stage.start()
            lat = vae.stream_encode(x).transpose(1, 2)  # [1, 1, z, h, w]
            enc = stage.ms()
            lat = noisy(lat, s)
            prev, idx = x[:, :, -1:], idx + 4
        else:  # the pipeline's tail: fresh noise in, the last chunks out
            lat = torch.randn(1, 1, LATENT_CHANNELS, spec.height // 8, spec.width // 8, device=device)
            lat = lat.to(spec.torch_dtype())
        stage.start()
        pred = pipe.inference_stream(noise=lat, current_start=begin, current_end=end, current_step=step)
        dit = stage.ms()
        calls += 1
        dec, frames = 0.0, 0
        if calls >= n:  # the batch's oldest chunk is done
            stage.start()
            frames = vae.stream_decode_to_pixel(pred[[-1]]).shape[1]
            dec, left = stage.ms(), left - 1
        chunks.append(ChunkTime(calls, frames, clock.ms(), enc, dit, dec, tail=step is None))
    sync(device)
    return time.perf_counter() - start, chunks


def flash_attention_used() -> bool:
    from models.wan import causal_model
    from models.wan.wan_base.modules import attention

    return bool(
        causal_model.FLASH_ATTN_AVAILABLE or attention.FLASH_ATTN_2_AVAILABLE or attention.FLASH_ATTN_3_AVAILABLE
    )


def main(folder: Path) -> None:
    from v2v.models.tiny_vae import TinyVAE

    spec = Spec.load(folder)
    device = setup_worker(spec)
    vae = TinyVAE()
    vae.load_state_dict(load_tensor(folder, "vae", device))
    context = load_tensor(folder, "context", device)
    patch_loaders(spec, context, vae.eval().requires_grad_(False))
    pipe = build_pipeline(spec, folder, device)
    torch.save(check_flow(pipe, spec, folder, device), folder / "flow_sdv2.pt")
    params = sum(p.numel() for p in pipe.generator.model.parameters())
    del pipe
    clip = load_tensor(folder, "clip", device, spec.torch_dtype()).transpose(0, 1)[None]  # [1, 3, T, H, W]
    stream(spec, folder, device, clip)  # warm-up
    streams = [stream(spec, folder, device, clip) for _ in range(spec.repeats)]
    attn = "flash-attn" if flash_attention_used() else "their SDPA fallback (no flash-attn)"
    notes = [f"CausalStreamInferencePipeline.inference_stream (batch over steps), attention {attn}"]
    result = summarize("StreamDiffusionV2", streams, spec, f"1 x batch {spec.steps}", spec.steps - 1, params, notes)
    result.save(folder / "result_sdv2.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
