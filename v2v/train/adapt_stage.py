"""Stage 4b, `adapt`: fine-tune the TinyVAE decoder on the student's own latents.

The decoder of the `vae` and `decoder` stages learned to invert the *encoder*. At run time it decodes
the *student's* latents, which are softer than any encoding and jump a little from one chunk to the
next (each chunk starts from fresh noise). Since the procedural data gives the true restyle of every
clip, this stage teaches the decoder what those latents should look like:

1. Rollouts (`adapt_clips`, recorded once in WORKDIR/adapt/rollouts.pt, resumable): a training scene
   rendered in a random source style goes through the real `StreamEngine` with the student, a random
   other style's prompt, a random strength in `STRENGTHS` and the scene's seed. The latents the engine
   would decode are recorded (`on_latents`) with the ground-truth render of the target style. Every
   rollout starts a fresh stream, so the first chunks (where the cache is still filling and the chunk
   boundaries jump most) are in every clip.
2. Fine-tune (`adapt_steps`): only `group_decoder` and `frame_decoder` train, on the `decoder` stage's
   loss (reconstruction + `adapt_temporal` × frame-to-frame differences) between the decoded rollout
   latents and the target-style render, plus the `decoder` stage's own loss on ground-truth clips
   (half of every batch), so that encode → decode stays a faithful round trip. The frame-to-frame
   weight (`adapt_temporal`, 7.5) is higher than the `decoder` stage's 6: what a decoder can do about the
   jumps between chunks is to leave out what changes from chunk to chunk but not in the render. Higher
   weights flicker less and blur more (docs/training.md has the measured trade-off).

The encoder, the latent statistics, the DiT and the prompt encoder do not change. The result depends
on the student: after training the student again, delete WORKDIR/adapt and run this stage again
(`export` warns when the two do not match). Shape letters: N rollouts, z latent channels, F latent
frames, T pixel frames, h/w latent, H/W pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from v2v.models.tiny_vae import TinyVAE
from v2v.pixels import to_float
from v2v.train.common import (
    Loop,
    TrainConfig,
    build_vae,
    ckpt_path,
    draw_seed,
    fresh_scene_seed,
    load_ckpt,
    resume,
    save_ckpt,
    stage_logger,
    warmup_cosine,
)
from v2v.train.decoder_stage import (
    DECODER_CROP,
    best_vae_state,
    decoded_loss,
    decoder_loss,
    decoder_optimizer,
    with_still_clips,
)
from v2v.train.vae_stage import random_clips

STAGE = "adapt"
ROLLOUT_FRAMES = 17  # pixel frames per rollout: the first chunk and four more (5 latent frames)
STRENGTHS = (0.55, 0.85)  # rollout strengths, uniform: around the engine's default 0.7
SAVE_EVERY = 100  # rollouts between saves of rollouts.pt while recording


def rollouts_path(workdir: Path) -> Path:
    return workdir / STAGE / "rollouts.pt"


def adapted_student(workdir: Path) -> str | None:
    """Which student the `adapt` rollouts came from (as `export.build_bundle` describes it); None when the
    stage has not recorded any."""
    path = rollouts_path(workdir)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True).get("student")


def _collector(out: list[Tensor]) -> Callable[[Tensor], None]:
    """An on_latents callback that keeps each chunk's latents (float32, on the CPU) in `out`."""
    return lambda z: out.append(z.float().cpu())


def record_rollouts(
    workdir: Path, config: TrainConfig, log: logging.Logger, device: torch.device = torch.device("cpu")
) -> dict:
    """Record `adapt_clips` rollouts (resuming a partial file). -> {"latents": float16 [N, z, F, h, w]
    normalised, "frames": uint8 [N, T, H, W, 3] target-style renders, "meta": [(seed, source, target,
    start, strength)], "student": str}."""
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.train import data
    from v2v.train.export import build_bundle

    path = rollouts_path(workdir)
    bundle, student = build_bundle(workdir, config)
    bundle.to(device)
    saved = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
    if saved is not None and saved.get("student") != student:
        raise RuntimeError(
            f"{path} was recorded with the student {saved.get('student')}, the run's student is now "
            f"{student}: delete {workdir / STAGE} and run the stage again"
        )
    latents = list(saved["latents"]) if saved else []
    frames = list(saved["frames"]) if saved else []
    meta = list(saved["meta"]) if saved else []
    if saved is not None and len(latents) >= config.adapt_clips:
        return saved

    def save() -> dict:
        rec = {"latents": torch.stack(latents), "frames": torch.stack(frames), "meta": meta, "student": student}
        save_ckpt(path, rec)
        return rec

    log.info(f"adapt: recording rollouts {len(latents)}/{config.adapt_clips} of the student {student}")
    rng = np.random.default_rng(draw_seed(config.seed, "adapt rollouts", len(latents)))
    styles = data.STYLES
    for i in tqdm(
        range(len(latents), config.adapt_clips),
        desc="adapt: student rollouts",
        unit="clip",
        initial=len(latents),
        total=config.adapt_clips,
    ):
        seed = fresh_scene_seed(rng)
        a, b = rng.choice(len(styles), 2, replace=False)
        source, target = styles[int(a)], styles[int(b)]
        start, strength = int(rng.integers(0, 40)), float(rng.uniform(*STRENGTHS))
        clips = data.render_styles(
            data.sample_scene(seed), (source, target), ROLLOUT_FRAMES, config.size, start=start
        )  # {style: uint8 [T, H, W, 3]}
        chunks: list[Tensor] = []
        engine = StreamEngine(
            bundle,
            EngineConfig(prompt=data.style_prompt(target), strength=strength, seed=seed),
            on_latents=_collector(chunks),
        )
        video = to_float(clips[source])  # [T, 3, H, W]
        engine.push(video)
        engine.flush()
        latents.append(torch.cat(chunks, dim=2)[0].half().clone())  # [z, F, h, w]
        frames.append(torch.from_numpy(clips[target]))  # [T, H, W, 3]
        meta.append((seed, source, target, start, strength))
        if (i + 1) % SAVE_EVERY == 0:
            save()
    return save()


def rollout_batch(rec: dict, rng: np.random.Generator, n: int, crop: int) -> tuple[Tensor, Tensor]:
    """n random rollouts, one random crop each: (normalised latents [n, z, F, c, c], video [n, 3, T, 8c, 8c]
    in [-1, 1]); c = crop in latent pixels."""
    lat, frames = rec["latents"], rec["frames"]
    h = lat.shape[-1]
    c = min(crop, h)
    zs, vs = [], []
    for i in rng.integers(0, len(lat), n).tolist():
        y, x = (int(v) for v in rng.integers(0, h - c + 1, 2))
        zs.append(lat[i, :, :, y : y + c, x : x + c].float())  # [z, F, c, c]
        clip = frames[i, :, 8 * y : 8 * (y + c), 8 * x : 8 * (x + c)]  # [T, 8c, 8c, 3]
        vs.append(clip.permute(3, 0, 1, 2).float() / 127.5 - 1.0)  # [3, T, 8c, 8c]
    return torch.stack(zs), torch.stack(vs)


def adapt_loss(vae: TinyVAE, z: Tensor, video: Tensor, temporal_weight: float) -> dict[str, Tensor]:
    """z normalised student latents [B, z, F, h, w], video [B, 3, T, H, W] their target-style render ->
    `decoded_loss` between decode(z) and the render, the frame-to-frame term weighted by `temporal_weight`."""
    raw = vae.denormalize(z)  # [B, z, F, h, w]
    return decoded_loss(vae, raw, video, temporal_weight)


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    if state is not None and state["step"] >= config.adapt_steps:
        log.info("adapt: already trained; nothing to do")
        return
    t0 = time.monotonic()
    rec = record_rollouts(workdir, config, log, device)
    log.info(f"adapt: {len(rec['latents'])} rollouts ready ({time.monotonic() - t0:.0f} s this run)")
    vae = build_vae(config, state if state is not None else best_vae_state(workdir, adapted=False)).to(device)
    params, opt = decoder_optimizer(vae, config.adapt_lr)
    step, timer = resume(state, {"opt": opt})  # the decoder's weights came with build_vae
    crop = (min(DECODER_CROP[0], config.size[0]), min(DECODER_CROP[1], config.size[1]))
    log.info(f"adapt: start at step {step}/{config.adapt_steps}, {sum(p.numel() for p in params)} params trained")
    seed = draw_seed(config.seed, "adapt", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def snapshot() -> dict:
        return {
            "step": loop.step,
            "vae": vae.state_dict(),
            "opt": opt.state_dict(),
            "seconds": timer.total(),
            "vae_config": dataclasses.asdict(vae.config),
            "stats_done": True,
            "student": rec["student"],
        }

    vae.train()
    with Loop(STAGE, step, config.adapt_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(config.adapt_lr, s, config.adapt_steps, warmup=30)
            z, video = (
                x.to(device) for x in rollout_batch(rec, rng, config.adapt_batch, crop[0] // vae.spatial_factor)
            )
            losses = adapt_loss(vae, z, video, config.adapt_temporal)
            truth = with_still_clips(random_clips(config, rng, config.adapt_batch, crop, crops_per_clip=4), rng).to(
                device
            )
            round_trip = decoder_loss(vae, truth)
            loss = losses["loss"] + config.adapt_round_trip * round_trip["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            loop.log(
                s,
                recon=losses["recon"].item(),
                temporal=losses["temporal"].item(),
                round_trip=round_trip["recon"].item(),
            )
    vae.eval()
    log.info(f"adapt: {timer.total():.0f} s in all")
