"""v2v's side of the StreamDiffusionV2 side-by-side: the driver's tiny student in a ModelBundle, streamed through
`v2v.engine.StreamEngine` one input frame at a time (as a live source feeds it).

Run by sdv2_side_by_side.py in v2v's venv: `python bench/side_v2v.py WORKDIR VARIANT`, VARIANT "clean-pass"
(the engine's default: the few steps, then one pass at t = 0 that writes the chunk into the KV cache) or
"no-clean-pass" (the last denoising step's keys/values are cached, as StreamDiffusionV2 does). Reads the
driver's files in WORKDIR, writes result_v2v-VARIANT.json (and flow_v2v.pt: one DiT pass on the check input).

Shape letters: T pixel frames, z latent channels, F latent frames, H/W pixels, h/w latent, L text tokens.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from bench_spec import ChunkTime, Spec, load_tensor, setup_worker, summarize, sync
from torch import Tensor

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import ModelBundle
from v2v.models.dit import DiT, DiTConfig
from v2v.models.text import RandomPromptEncoder
from v2v.models.tiny_vae import TinyVAE
from v2v.sampling import SamplingConfig


def dit_config(spec: Spec) -> DiTConfig:
    """The side-by-side's student: Wan2.1's architecture at the spec's width and depth, causal, 1 latent frame a
    block (the driver builds the weights from this too)."""
    return DiTConfig(
        dim=spec.dim,
        ffn_dim=spec.ffn_dim,
        text_dim=spec.text_dim,
        num_heads=spec.heads,
        num_layers=spec.layers,
        text_len=spec.text_len,
        causal=True,
        frames_per_block=1,
    )


def build_bundle(spec: Spec, folder: Path, device: torch.device) -> ModelBundle:
    """The driver's DiT and TinyVAE weights in a bundle with StreamDiffusionV2's schedule and cache shape."""
    dit = DiT(dit_config(spec))
    dit.load_state_dict(load_tensor(folder, "dit", device))
    vae = TinyVAE()
    vae.load_state_dict(load_tensor(folder, "vae", device))
    for m in (dit, vae):
        m.eval().requires_grad_(False)
    sampling = SamplingConfig(timesteps=(700.0, 500.0, 400.0, 200.0), v2v_offset=100.0, frames_per_block=1)
    return ModelBundle(
        dit=dit,
        vae=vae,
        text=RandomPromptEncoder(text_len=spec.text_len, dim=spec.text_dim),  # the driver's context.pt
        sampling=sampling,
        size=(spec.width, spec.height),
        name="side-by-side",
        # the chunk's own frame is attended besides the cache, so the cache holds cache_frames - 1
        window_frames=spec.cache_frames - 1 - spec.sink_frames,
        sink_frames=spec.sink_frames,
        sink_refresh=spec.sink_refresh,
    ).to(device, spec.torch_dtype())


def check_flow(bundle: ModelBundle, spec: Spec, folder: Path) -> Tensor:
    """One DiT pass over the driver's check latent at t = 700 with an empty cache -> flow [1, z, 1, h, w]."""
    x = load_tensor(folder, "check_x", bundle.device, bundle.dtype)  # [1, z, 1, h, w]
    context = load_tensor(folder, "context", bundle.device, bundle.dtype)  # [1, L, text_dim]
    cache = bundle.dit.new_cache(batch=1, frame_tokens=spec.frame_tokens, window_frames=2, sink_frames=0)
    t = torch.full((1, 1), 700.0, device=bundle.device)  # [B, F]
    return bundle.dit(x, t, context, cache=cache).float().cpu()


def stream(bundle: ModelBundle, clip: Tensor, config: EngineConfig) -> tuple[float, list[ChunkTime]]:
    """clip [T, 3, H, W] pushed frame by frame into a new engine -> (wall seconds, chunk times)."""
    engine = StreamEngine(bundle, config)
    chunks: list[ChunkTime] = []
    sync(bundle.device)
    start = time.perf_counter()
    for i in range(clip.shape[0] + 1):
        if i < clip.shape[0]:
            engine.push(clip[i : i + 1])  # the restyled frames stay on the device: no sink here
        else:
            engine.flush()
        for m in engine.metrics:
            chunks.append(
                ChunkTime(m.index, m.frames_out, m.total_ms, m.encode_ms, m.denoise_ms + m.cache_ms, m.decode_ms)
            )
    sync(bundle.device)
    return time.perf_counter() - start, chunks


def main(folder: Path, variant: str) -> None:
    spec = Spec.load(folder)
    device = setup_worker(spec)
    bundle = build_bundle(spec, folder, device)
    torch.save(check_flow(bundle, spec, folder), folder / "flow_v2v.pt")
    clean = variant == "clean-pass"
    config = EngineConfig(
        prompt=spec.prompt, strength=spec.strength, steps=spec.steps, clean_pass=clean, seed=spec.seed
    )
    clip = load_tensor(folder, "clip", device, bundle.dtype)  # [T, 3, H, W]
    stream(bundle, clip, config)  # warm-up
    streams = [stream(bundle, clip, config) for _ in range(spec.repeats)]
    passes = spec.steps + (1 if clean else 0)
    how = "clean pass at t = 0" if clean else "no clean pass"
    notes = [f"StreamEngine, {how}, attention {bundle.dit.attention_backend}"]
    params = bundle.dit.num_params()
    result = summarize(f"v2v ({variant})", streams, spec, f"{passes} x batch 1", 0, params, notes)
    result.save(folder / f"result_v2v-{variant}.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
