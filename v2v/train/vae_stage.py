"""Stage 1, `vae`: train the TinyVAE on procedural clips, then measure its latent statistics.

Loss: L1 + MSE + an L1 on the horizontal/vertical image gradients (sharp edges), on clips of
9 pixel frames (the first frame alone + two groups of 4, so the decoder's previous-latent memory is
trained) rendered at the working size and randomly cropped to `vae_size` (the same object scale as at
run time, a quarter of the pixels). A little Gaussian noise on the latents makes the decoder tolerant
of the DiT's imperfect latents. Afterwards the per-channel mean/std of the raw latents over held-out
clips are written into the TinyVAEConfig, so that encode() gives ~unit-variance latents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_
from torch import Tensor

from v2v.train.common import (Loop, TrainConfig, build_vae, ckpt_path, draw_seed, fresh_scene_seed, load_ckpt,
                              module_device, render_video, resume, save_ckpt, stage_logger, warmup_cosine)

STAGE = "vae"
CLIP_FRAMES = 9
LATENT_NOISE = 0.05


def random_clips(config: TrainConfig, rng: np.random.Generator, n: int, crop: tuple[int, int],
                 held_out: bool = False, crops_per_clip: int = 1) -> Tensor:
    """n clips [n, 3, 9, Hc, Wc] in [-1, 1]: random scene, style, start frame and crop (several crops
    per rendered clip when crops_per_clip > 1, since rendering costs about as much as a training step)."""
    from v2v.train import data

    clips = []
    while len(clips) < n:
        seed = 1_000_000 + int(rng.integers(0, 1_000_000)) if held_out else fresh_scene_seed(rng)
        style = data.STYLES[int(rng.integers(0, len(data.STYLES)))]
        video = render_video(data.sample_scene(seed), style, CLIP_FRAMES, config.size,
                             start=int(rng.integers(0, 32)))  # [3, T, H, W]
        W, H = config.size
        cw, ch = crop
        for _ in range(min(crops_per_clip, n - len(clips))):
            y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
            clips.append(video[:, :, y:y + ch, x:x + cw])
    return torch.stack(clips)  # [n, 3, T, Hc, Wc]


def gradient_l1(a: Tensor, b: Tensor) -> Tensor:
    dx = (a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])
    dy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def reconstruction_loss(vae: torch.nn.Module, video: Tensor) -> tuple[Tensor, Tensor]:
    """-> (loss, raw latents). video [B, 3, T, H, W]."""
    z = vae.encode_raw(video)                                              # [B, z, F, h, w]
    noisy = z + LATENT_NOISE * z.detach().std() * torch.randn_like(z)
    recon = vae.decode_frames(noisy)          # [B, 3, T, H, W]
    loss = F_.l1_loss(recon, video) + F_.mse_loss(recon, video) + 0.5 * gradient_l1(recon, video)
    return loss + 1e-4 * z.square().mean(), z


@torch.no_grad()
def latent_stats(vae: torch.nn.Module, config: TrainConfig, clips: int = 32) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the raw latents over held-out clips at the working size."""
    rng = np.random.default_rng(draw_seed(config.seed, "latent stats", 0))
    device = module_device(vae)
    zs = [vae.encode_raw(random_clips(config, rng, 1, config.size, held_out=True).to(device)) for _ in range(clips)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)                           # [z, N]
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-4).tolist()


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    torch.manual_seed(config.seed)  # the initial weights of a new run
    vae = build_vae(config).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    step, timer = resume(state, {"vae": vae, "opt": opt})
    if state is not None and state.get("stats_done") and step >= config.vae_steps:
        log.info("vae: already trained; nothing to do")
        return
    log.info(f"vae: start at step {step}/{config.vae_steps}, {sum(p.numel() for p in vae.parameters())} params")
    seed = draw_seed(config.seed, "vae", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    stats_done = False

    def snapshot() -> dict:
        return {"step": loop.step, "vae": vae.state_dict(), "opt": opt.state_dict(), "seconds": timer.total(),
                "vae_config": dataclasses.asdict(vae.config), "stats_done": stats_done}

    vae.train()
    with Loop(STAGE, step, config.vae_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(config.vae_lr, s, config.vae_steps, warmup=50)
            video = random_clips(config, rng, config.vae_batch, config.vae_size, crops_per_clip=4).to(device)
            loss, _ = reconstruction_loss(vae, video)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), config.grad_clip)
            opt.step()
            loop.log(s, loss=loss.item())
    vae.eval()
    mean, std = latent_stats(vae, config)
    vae.config = dataclasses.replace(vae.config, latent_mean=tuple(mean), latent_std=tuple(std))
    stats_done = True
    save_ckpt(path, snapshot())
    log.info(f"vae: latent mean {np.round(mean, 3).tolist()} std {np.round(std, 3).tolist()}; "
             f"{timer.total():.0f} s in all")
