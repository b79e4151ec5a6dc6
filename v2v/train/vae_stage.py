"""Stage 1, `vae`: train the TinyVAE, then measure its latent statistics.

Data: clips of 9 pixel frames (the first frame alone + two groups of 4, so the decoder's previous-latent
memory is trained), randomly cropped to `vae_size`: procedural clips rendered at the working size (the same
object scale as at run time) and, for a share `autoencoder.real` of them, random moving views of real
photos, Big Buck Bunny and Freedoom frames (real_data.py), so that the autoencoder keeps what a camera or a
game shows, not only flat-shaded worlds.

Loss (weights in TrainConfig.autoencoder): L1, MSE, an L1 on the horizontal/vertical image gradients (sharp
edges), an L1 between log-amplitude spectra (fine texture), the EfficientNet-Lite0 perceptual distance
(perceptual.py) and a patch adversarial term (adversarial.py, hinge, VQGAN's adaptive weight) from
`adversarial_from` on: L1 and MSE alone are minimised by a blur. A little Gaussian noise on the latents makes
the decoder tolerant of the DiT's imperfect latents. Afterwards the per-channel mean/std of the raw latents
over held-out clips are written into the TinyVAEConfig, so that encode() gives ~unit-variance latents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F_
from torch import Tensor, nn

from v2v.models.tiny_vae import TinyVAE
from v2v.pixels import to_float
from v2v.train.adversarial import PatchDiscriminator, adaptive_weight, discriminator_loss, generator_loss, sample_frames
from v2v.train.common import (
    AutoencoderConfig,
    Loop,
    TrainConfig,
    build_vae,
    ckpt_path,
    draw_seed,
    fresh_scene_seed,
    load_ckpt,
    module_device,
    render_video,
    resume,
    save_ckpt,
    stage_logger,
    warmup_cosine,
)

STAGE = "vae"
CLIP_FRAMES = 9
LATENT_NOISE = 0.05
DEFAULT_AE = AutoencoderConfig()  # the reconstruction loss's weights when a caller passes none
PERCEPTUAL_FRAMES = 3  # frames of each clip the perceptual distance compares (it costs most of a step)


def random_clips(
    config: TrainConfig,
    rng: np.random.Generator,
    n: int,
    crop: tuple[int, int],
    held_out: bool = False,
    crops_per_clip: int = 1,
    real: float = 0.0,
) -> Tensor:
    """n clips [n, 3, 9, Hc, Wc] in [-1, 1]: random scene, style, start frame and crop (several crops
    per rendered clip when crops_per_clip > 1, since rendering costs about as much as a training step);
    about a share `real` of them are random moving views of real content instead."""
    from v2v.train import data

    clips = []
    n_real = int(rng.binomial(n, real)) if real > 0 else 0
    if n_real:
        from v2v.train.real_data import load_real, real_clip

        items = load_real("heldout" if held_out else "train")
        for _ in range(n_real):
            item = items[int(rng.integers(0, len(items)))]
            clips.append(to_float(real_clip(item, rng, CLIP_FRAMES, crop)).transpose(0, 1))  # [3, T, H, W]
    while len(clips) < n:
        seed = 1_000_000 + int(rng.integers(0, 1_000_000)) if held_out else fresh_scene_seed(rng)
        style = data.STYLES[int(rng.integers(0, len(data.STYLES)))]
        video = render_video(
            data.sample_scene(seed), style, CLIP_FRAMES, config.size, start=int(rng.integers(0, 32))
        )  # [3, T, H, W]
        W, H = config.size
        cw, ch = crop
        for _ in range(min(crops_per_clip, n - len(clips))):
            y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
            clips.append(video[:, :, y : y + ch, x : x + cw])
    return torch.stack(clips)  # [n, 3, T, Hc, Wc]


def gradient_l1(a: Tensor, b: Tensor) -> Tensor:
    dx = (a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])
    dy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def spectrum_l1(a: Tensor, b: Tensor) -> Tensor:
    """L1 between the log-amplitude spectra of two batches of frames [..., H, W]."""
    fa = torch.fft.rfft2(a.float(), norm="ortho").abs()
    fb = torch.fft.rfft2(b.float(), norm="ortho").abs()
    return (torch.log1p(fa) - torch.log1p(fb)).abs().mean()


def reconstruction_loss(
    vae: TinyVAE,
    video: Tensor,
    ae: AutoencoderConfig = DEFAULT_AE,
    perceptual: torch.nn.Module | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """-> (loss, raw latents, reconstruction [B, 3, T, H, W]). video [B, 3, T, H, W]."""
    z = vae.encode_raw(video)  # [B, z, F, h, w]
    noisy = z + LATENT_NOISE * z.detach().std() * torch.randn_like(z)
    recon = vae.decode_frames(noisy)  # [B, 3, T, H, W]
    return pixel_loss(recon, video, ae, perceptual) + 1e-4 * z.square().mean(), z, recon


def pixel_loss(
    recon: Tensor,
    video: Tensor,
    ae: AutoencoderConfig = DEFAULT_AE,
    perceptual: torch.nn.Module | None = None,
) -> Tensor:
    """The autoencoder's reconstruction loss between two videos [B, 3, T, H, W] (the `vae` and `decoder`
    stages): L1 + 0.5 × the L1 of the image gradients, plus `ae`'s MSE, spectrum and perceptual terms."""
    loss = F_.l1_loss(recon, video) + 0.5 * gradient_l1(recon, video)
    if ae.mse:
        loss = loss + ae.mse * F_.mse_loss(recon, video)
    if ae.fft:
        loss = loss + ae.fft * spectrum_l1(recon, video)
    if ae.perceptual and perceptual is not None:
        idx = torch.randperm(video.shape[2])[:PERCEPTUAL_FRAMES].to(video.device)  # the same frames of each clip
        a = recon.index_select(2, idx).transpose(1, 2).flatten(0, 1)  # [B*n, 3, H, W]
        b = video.index_select(2, idx).transpose(1, 2).flatten(0, 1)  # [B*n, 3, H, W]
        loss = loss + ae.perceptual * perceptual(a, b)
    return loss


@torch.no_grad()
def latent_stats(vae: TinyVAE, config: TrainConfig, clips: int = 32) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the raw latents over held-out clips at the working size."""
    rng = np.random.default_rng(draw_seed(config.seed, "latent stats", 0))
    device = module_device(vae)
    zs = [
        vae.encode_raw(
            random_clips(config, rng, 1, config.size, held_out=True, real=config.autoencoder.real).to(device)
        )
        for _ in range(clips)
    ]
    z = torch.cat(zs).transpose(0, 1).flatten(1)  # [z, N]
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-4).tolist()


def adversarial_step(
    vae: TinyVAE,
    disc: PatchDiscriminator,
    disc_opt: torch.optim.Optimizer,
    video: Tensor,
    recon: Tensor,
    recon_loss: Tensor,
    scale: float,
) -> tuple[Tensor, float]:
    """One discriminator update on (real, decoded) frames, then the generator's adversarial term for the
    autoencoder's loss, weighted adaptively against `recon_loss` (VQGAN). -> (term, discriminator loss)."""
    real = sample_frames(video, 2)  # [2B, 3, H, W]
    fake = sample_frames(recon, 2)  # [2B, 3, H, W]
    d_loss = discriminator_loss(disc(real), disc(fake.detach()))
    disc_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    disc_opt.step()
    g_loss = generator_loss(disc(fake))
    last = cast(nn.Conv2d, vae.frame_decoder.layers[-2]).weight  # the conv before the pixel shuffle
    return adaptive_weight(recon_loss, g_loss, last, scale) * g_loss, float(d_loss.item())


def sharp_terms(
    ae: AutoencoderConfig, lr: float, device: torch.device
) -> tuple[PatchDiscriminator | None, torch.optim.Optimizer | None, torch.nn.Module | None]:
    """The modules `ae`'s sharp terms need: (patch discriminator, its optimiser, perceptual distance), each
    None when its weight is 0."""
    disc = disc_opt = perceptual = None
    if ae.adversarial:
        disc = PatchDiscriminator().to(device)
        disc_opt = torch.optim.AdamW(disc.parameters(), lr=lr * 0.5, betas=(0.5, 0.9))
    if ae.perceptual:
        from v2v.train.perceptual import PerceptualDistance

        perceptual = PerceptualDistance().to(device)
    return disc, disc_opt, perceptual


def autoencoder_state(
    step: int,
    vae: TinyVAE,
    opt: torch.optim.Optimizer,
    seconds: float,
    stats_done: bool,
    disc: PatchDiscriminator | None,
    disc_opt: torch.optim.Optimizer | None,
) -> dict:
    """The checkpoint of an autoencoder stage (`vae`, `decoder`): the weights, the optimisers and, with the
    adversarial term, the discriminator."""
    extra = {} if disc is None or disc_opt is None else {"disc": disc.state_dict(), "disc_opt": disc_opt.state_dict()}
    return {
        "step": step,
        "vae": vae.state_dict(),
        "opt": opt.state_dict(),
        "seconds": seconds,
        "vae_config": dataclasses.asdict(vae.config),
        "stats_done": stats_done,
        **extra,
    }


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    ae = config.autoencoder
    torch.manual_seed(config.seed)  # the initial weights of a new run
    vae = build_vae(config).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    parts: dict = {"vae": vae, "opt": opt}
    disc, disc_opt, perceptual = sharp_terms(ae, config.vae_lr, device)
    if disc is not None:
        parts.update(disc=disc, disc_opt=disc_opt)
    step, timer = resume(state, parts)
    if state is not None and state.get("stats_done") and step >= config.vae_steps:
        log.info("vae: already trained; nothing to do")
        return
    log.info(f"vae: start at step {step}/{config.vae_steps}, {sum(p.numel() for p in vae.parameters())} params; {ae}")
    seed = draw_seed(config.seed, "vae", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    stats_done = False

    def snapshot() -> dict:
        return autoencoder_state(loop.step, vae, opt, timer.total(), stats_done, disc, disc_opt)

    vae.train()
    with Loop(STAGE, step, config.vae_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(config.vae_lr, s, config.vae_steps, warmup=50)
            video = random_clips(config, rng, config.vae_batch, config.vae_size, crops_per_clip=4, real=ae.real).to(
                device
            )
            loss, _, recon = reconstruction_loss(vae, video, ae, perceptual)
            losses = {"loss": loss.item()}
            if disc is not None and disc_opt is not None and s >= ae.adversarial_from:
                term, losses["disc"] = adversarial_step(vae, disc, disc_opt, video, recon, loss, ae.adversarial)
                loss = loss + term
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), config.grad_clip)
            opt.step()
            loop.log(s, **losses)
    vae.eval()
    mean, std = latent_stats(vae, config)
    vae.config = dataclasses.replace(vae.config, latent_mean=tuple(mean), latent_std=tuple(std))
    stats_done = True
    save_ckpt(path, snapshot())
    log.info(
        f"vae: latent mean {np.round(mean, 3).tolist()} std {np.round(std, 3).tolist()}; {timer.total():.0f} s in all"
    )
