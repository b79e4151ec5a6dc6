"""Stage 1b, `decoder`: fine-tune the TinyVAE decoder with the encoder frozen.

The `vae` stage leaves a soft decoder that also shimmers from frame to frame (a VAE round trip of a
ground-truth clip has about twice its warp error). This stage trains only `group_decoder` and
`frame_decoder`; the encoder and the latent statistics are untouched, so the latent space stays the
one the teacher and the student were trained in, and no later stage has to run again.

Loss per clip (9 pixel frames = the first frame alone + two groups of 4, so the previous-latent
memory and a group boundary are in every clip):
  - reconstruction: the `vae` stage's, with the run's `autoencoder` weights (L1 + MSE + L1 on image
    gradients by default; the spectrum, perceptual and patch adversarial terms and real content when the
    run sets them, so a sharper decoder can be trained for a latent space that later stages already use);
  - temporal: L1 between the frame-to-frame differences of the reconstruction and of the clip, over
    every pair of consecutive frames (inside a group and across the boundary), so that what moves in
    the clip moves in the output and nothing else does;
  - latent jitter: independent Gaussian noise on each latent frame (`DECODER_LATENT_NOISE` × std),
    like the chunk-to-chunk jitter of the student's latents, which the temporal term teaches the
    decoder to smooth over.
Crops are larger than in the `vae` stage (`DECODER_CROP`) because decoding needs context. A share of
the clips (`STILL_SHARE`) is one frame repeated: the decoder makes the 4 frames of a group from
separate feature slices, and without still clips it leaves a 4-frame shimmer on still content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from v2v.models.tiny_vae import TinyVAE
from v2v.train.common import (
    AutoencoderConfig,
    Loop,
    TrainConfig,
    build_vae,
    ckpt_path,
    draw_seed,
    load_ckpt,
    require_ckpt,
    resume,
    stage_logger,
    warmup_cosine,
)
from v2v.train.vae_stage import (
    DEFAULT_AE,
    adversarial_step,
    autoencoder_state,
    pixel_loss,
    random_clips,
    sharp_terms,
)

STAGE = "decoder"
DECODER_LATENT_NOISE = 0.1  # × the latents' std, independently per latent frame
DECODER_CROP = (96, 96)  # (W, H) training crops
TEMPORAL_WEIGHT = 6.0  # weight of the temporal-difference term
STILL_SHARE = 0.25  # share of clips that are one frame repeated


def decoder_parameters(vae: TinyVAE) -> list[torch.nn.Parameter]:
    return [*vae.group_decoder.parameters(), *vae.frame_decoder.parameters()]


def decoder_optimizer(vae: TinyVAE, lr: float) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """Freeze the encoder, train the decoder: (the decoder's parameters, AdamW over them)."""
    vae.requires_grad_(False)
    params = decoder_parameters(vae)
    for p in params:
        p.requires_grad_(True)
    return params, torch.optim.AdamW(params, lr=lr, weight_decay=0.0)


def with_still_clips(video: Tensor, rng: np.random.Generator, share: float = STILL_SHARE) -> Tensor:
    """video [B, 3, T, H, W] -> the same with about `share` of the clips replaced by one of their frames repeated."""
    B, _, T = video.shape[:3]
    out = video.clone()
    for b in np.flatnonzero(rng.random(B) < share):
        t = int(rng.integers(0, T))
        out[b] = video[b, :, t : t + 1].expand(-1, T, -1, -1)  # [3, T, H, W]
    return out


def temporal_l1(a: Tensor, b: Tensor) -> Tensor:
    """L1 between the frame-to-frame changes of two videos [B, 3, T, H, W]."""
    return ((a[:, :, 1:] - a[:, :, :-1]) - (b[:, :, 1:] - b[:, :, :-1])).abs().mean()


def decoded_loss(
    vae: TinyVAE,
    z: Tensor,
    video: Tensor,
    temporal_weight: float = TEMPORAL_WEIGHT,
    ae: AutoencoderConfig = DEFAULT_AE,
    perceptual: torch.nn.Module | None = None,
) -> dict[str, Tensor]:
    """Raw latents z [B, z, F, h, w] decoded against video [B, 3, T, H, W] in [-1, 1] (T = 1 + 4(F − 1)) ->
    {"loss", "recon", "temporal", "out"}: `pixel_loss` + temporal_weight × the frame-to-frame term, and the
    decoded video [B, 3, T, H, W]."""
    out = vae.decode_frames(z)  # [B, 3, T, H, W]
    recon = pixel_loss(out, video, ae, perceptual)
    temporal = temporal_l1(out, video)
    return {
        "loss": recon + temporal_weight * temporal,
        "recon": recon.detach(),
        "temporal": temporal.detach(),
        "out": out,
    }


def decoder_loss(
    vae: TinyVAE,
    video: Tensor,
    noise: float = DECODER_LATENT_NOISE,
    ae: AutoencoderConfig = DEFAULT_AE,
    perceptual: torch.nn.Module | None = None,
) -> dict[str, Tensor]:
    """video [B, 3, T, H, W] in [-1, 1] -> `decoded_loss` of its own round trip with jittered
    latents; gradients reach the decoder only."""
    with torch.no_grad():
        z = vae.encode_raw(video)  # [B, z, F, h, w]
        std = z.std(dim=(0, 2, 3, 4), keepdim=True)  # [1, z, 1, 1, 1]
        z = z + noise * std * torch.randn_like(z)
    return decoded_loss(vae, z, video, ae=ae, perceptual=perceptual)


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    vae = build_vae(config, state if state is not None else require_ckpt(workdir, "vae")).to(device)
    params, opt = decoder_optimizer(vae, config.decoder_lr)
    ae = config.autoencoder
    disc, disc_opt, perceptual = sharp_terms(ae, config.decoder_lr, device)
    parts: dict = {"opt": opt} if disc is None else {"opt": opt, "disc": disc, "disc_opt": disc_opt}
    step, timer = resume(state, parts)  # the decoder's weights came with build_vae
    if step >= config.decoder_steps:
        log.info("decoder: already trained; nothing to do")
        return
    crop = (min(DECODER_CROP[0], config.size[0]), min(DECODER_CROP[1], config.size[1]))
    log.info(
        f"decoder: start at step {step}/{config.decoder_steps}, {sum(p.numel() for p in params)} params "
        f"trained, crops {crop}; {ae}"
    )
    seed = draw_seed(config.seed, "decoder", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def snapshot() -> dict:
        return autoencoder_state(loop.step, vae, opt, timer.total(), True, disc, disc_opt)

    vae.train()
    with Loop(STAGE, step, config.decoder_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(config.decoder_lr, s, config.decoder_steps, warmup=50)
            clips = random_clips(config, rng, config.vae_batch, crop, crops_per_clip=4, real=ae.real)
            video = with_still_clips(clips, rng).to(device)  # [B, 3, T, H, W]
            losses = decoder_loss(vae, video, ae=ae, perceptual=perceptual)
            loss = losses["loss"]
            logged = {k: losses[k].item() for k in ("loss", "recon", "temporal")}
            if disc is not None and disc_opt is not None and s >= ae.adversarial_from:
                term, logged["disc"] = adversarial_step(vae, disc, disc_opt, video, losses["out"], loss, ae.adversarial)
                loss = loss + term
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            loop.log(s, **logged)
    vae.eval()
    log.info(f"decoder: {timer.total():.0f} s in all")


def best_vae_state(workdir: Path, adapted: bool = True) -> dict:
    """The autoencoder checkpoint later stages should load: the decoder tuned on the student's latents
    (`adapt`) when it exists and `adapted`, else the fine-tuned decoder's, else the `vae` stage's. The
    encoder and the latent statistics are the same in all three."""
    for stage in ("adapt", STAGE) if adapted else (STAGE,):
        state = load_ckpt(ckpt_path(workdir, stage))
        if state is not None:
            return state
    return require_ckpt(workdir, "vae")
