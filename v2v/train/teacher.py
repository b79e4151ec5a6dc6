"""Stage 2, `teacher`: the bidirectional text-conditioned flow-matching DiT (with its prompt encoder).

First every cached scene is rendered in every style and encoded once by the trained TinyVAE
(WORKDIR/teacher/latents.pt, built incrementally so an interrupted build resumes). Then the DiT
(causal=False, Wan's zero-initialised head) and the WordPromptEncoder train together on
flow matching: x_t = (1 − σ)·z + σ·ε, target v = ε − z, timesteps from the shifted distribution,
captions dropped to the empty prompt 10% of the time (for classifier-free guidance). Most steps use
random half-size latent crops (same object scale, a quarter of the tokens: four times cheaper on the
CPU); every sixth step uses the full working size (half the batch) so the model also knows the whole
frame. An EMA
of both modules is what later stages use.

With the conditional recipe on (`TrainConfig.conditional.source`, v2v/train/conditional.py) the teacher learns
p(target | source, text): each clip is a target style and the clean latents of a source style of the same scene
(the same frames) as the DiT's source channels; identity pairs at the share `identity`, the target IS the source
whenever the caption is dropped (so the empty prompt means "keep the picture" and guidance pushes from keeping it
toward the prompt), no source at the share `source_dropout` (text to video), and at the share `real` identity
pairs of real content (WORKDIR/teacher/real_latents.pt, encoded once with the run's autoencoder). `cfg_flow` is
the one classifier-free-guidance closure of every stage and of the report.

Shape letters: B batch, S styles, z latent channels, F latent frames, h/w latent.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_
from torch import Tensor, nn

from v2v.models.dit import DiT
from v2v.models.word_text import WordPromptEncoder
from v2v.sampling import add_noise, flow_target, sample_train_timesteps
from v2v.train.common import (
    Loop,
    TrainConfig,
    build_dit,
    build_text,
    build_vae,
    ckpt_path,
    draw_seed,
    ema_update,
    frozen,
    load_ckpt,
    pixel_frames,
    randn,
    render_video,
    require_ckpt,
    resume,
    save_ckpt,
    stage_logger,
    warmup_cosine,
)
from v2v.train.conditional import RealLatents, build_real_cache, pair_latents, plan_pairs

STAGE = "teacher"
EMA_DECAY = 0.998
FULL_EVERY = 6


class TextToVideo(nn.Module):
    """The teacher (or critic): a DiT plus the prompt encoder it was trained with."""

    def __init__(self, dit: DiT, text: WordPromptEncoder) -> None:
        super().__init__()
        self.dit, self.text = dit, text


class LatentCache:
    """Latents of every cached scene in every style: [N, S, z, F, h, w] float16 + the scene seeds."""

    def __init__(self, latents: Tensor, seeds: list[int], styles: list[str]) -> None:
        self.latents, self.seeds, self.styles = latents, seeds, styles

    @staticmethod
    def load(workdir: Path) -> LatentCache:
        state = load_ckpt(workdir / STAGE / "latents.pt")
        n = state["done"]
        return LatentCache(state["latents"][:n], state["seeds"][:n], state["styles"])

    def sample(self, rng: np.random.Generator, batch: int, crop: int | None) -> tuple[Tensor, list[int], list[int]]:
        """-> latents float [B, z, F, c, c] (random crop of side c, or the full frame), scene idx, style idx."""
        N, S = self.latents.shape[:2]
        scenes = rng.integers(0, N, batch).tolist()
        styles = rng.integers(0, S, batch).tolist()
        return self.crop(self.latents[scenes, styles].float(), rng, crop), scenes, styles

    @staticmethod
    def crop(z: Tensor, rng: np.random.Generator, crop: int | None, like: tuple[int, int] | None = None) -> Tensor:
        if crop is None:
            return z
        h, w = z.shape[-2:]
        y, x = like if like is not None else (int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1)))
        return z[..., y : y + crop, x : x + crop]


def build_latent_cache(
    workdir: Path, config: TrainConfig, log: logging.Logger, device: torch.device = torch.device("cpu")
) -> None:
    """Render cache_scenes scenes in every style, encode them, save [N, S, z, F, h, w] float16."""
    from v2v.train import data

    path = workdir / STAGE / "latents.pt"
    state = load_ckpt(path)
    vae = frozen(build_vae(config, require_ckpt(workdir, "vae"))).to(device)
    N, styles = config.cache_scenes, list(data.STYLES)
    W, H = config.size
    shape = (N, len(styles), vae.z_dim, config.latent_frames, H // 8, W // 8)
    if state is None or state["latents"].shape[1:] != shape[1:] or state["styles"] != styles:
        state = {"latents": torch.zeros(shape, dtype=torch.float16), "seeds": [], "styles": styles, "done": 0}
    elif state["latents"].shape[0] != N:  # a different scene count: keep what is done
        done = min(state["done"], N)
        latents = torch.zeros(shape, dtype=torch.float16)
        latents[:done] = state["latents"][:done]
        state = {"latents": latents, "seeds": state["seeds"][:done], "styles": styles, "done": done}
    if state["done"] >= N:
        return
    rng = np.random.default_rng(draw_seed(config.seed, "latent cache", state["done"]))
    log.info(f"latent cache: {state['done']}/{N} scenes done, {len(styles)} styles")
    from tqdm import tqdm

    for i in tqdm(range(state["done"], N), desc="latent cache", initial=state["done"], total=N):
        seed = (config.seed * 1000 + i) % data.HELDOUT_SEED  # a training scene, never a held-out one
        scene = data.sample_scene(seed)
        start = int(rng.integers(0, 48))
        videos = torch.stack(
            [render_video(scene, s, pixel_frames(config.latent_frames), config.size, start) for s in styles]
        ).to(device)  # [S, 3, T, H, W]
        with torch.no_grad():
            state["latents"][i] = vae.encode(videos).half().cpu()  # [S, z, F, h, w]
        state["seeds"].append(seed)
        state["done"] = i + 1
        if (i + 1) % 20 == 0 or i + 1 == N:
            save_ckpt(path, state)


def captions(
    seeds: list[int], styles: list[str], rng: np.random.Generator, dropout: float, short: float = 0.0
) -> list[str]:
    """One training prompt per clip: empty with probability `dropout` (for CFG), else a style-only
    prompt (`data.short_caption`) with probability `short`, else the full caption of the scene. At
    short = 0 no draw is spent on it, so the prompts are those of runs made before the option."""
    from v2v.train import data

    out = []
    for seed, style in zip(seeds, styles, strict=True):
        if rng.random() < dropout:
            out.append("")
        elif short > 0 and rng.random() < short:
            out.append(data.short_caption(style, rng))
        else:
            out.append(data.caption(data.sample_scene(seed), style, rng))
    return out


def teacher_batch(
    cache: LatentCache,
    real: RealLatents | None,
    config: TrainConfig,
    rng: np.random.Generator,
    batch: int,
    crop: int | None,
) -> tuple[Tensor, Tensor, list[str]]:
    """A conditional teacher batch (conditional.plan_pairs with the caption dropout and the source dropout),
    one random crop for the whole batch. -> targets [B, z, F, c, c], sources [B, z, F, c, c] (zeros where
    dropped), prompts (a clip with a source and the empty prompt is always its own source: the identity pair)."""
    pairs = plan_pairs(
        cache,
        real,
        config.conditional,
        rng,
        batch,
        caption_dropout=config.caption_dropout,
        caption_short=config.caption_short,
        source_dropout=config.conditional.source_dropout,
        restyle_real=False,
    )
    both = LatentCache.crop(torch.stack(pair_latents(cache, real, pairs), 1), rng, crop)  # [B, 2, z, F, c, c]
    return both[:, 0], both[:, 1], [p.prompt for p in pairs]


def flow_matching_loss(
    model: TextToVideo,
    z: Tensor,
    prompts: list[str],
    shift: float,
    generator: torch.Generator | None = None,
    source: Tensor | None = None,
) -> Tensor:
    """MSE between the predicted flow and ε − z at shifted-uniform timesteps (one per clip); a source model
    is told the clean `source` latents [B, z, F, h, w] (None: a plain model, or no source)."""
    B = z.shape[0]
    t = sample_train_timesteps([B], shift, generator=generator).to(z.device)  # [B]
    noise = randn(z.shape, generator, z.device)
    x_t = add_noise(z, noise, t / 1000.0)
    flow = model.dit(x_t, t, model.text.encode(prompts), source=source)
    return F_.mse_loss(flow, flow_target(z, noise))


def cfg_flow(
    dit: DiT, cond: Tensor, guidance: float, source: Tensor | None = None, uncond: Tensor | None = None
) -> Callable[[Tensor, Tensor], Tensor]:
    """Classifier-free guidance (Ho & Salimans 2022) as a model_fn(x [B, z, F, h, w], t [B] or [B, F]) -> the
    guided flow u + g·(c − u), both branches in one batch of 2B. cond [B, K, D] is the prompt's context; the
    unconditional branch is the empty prompt, `uncond` [1 or B, K, D] (default zeros: the WordPromptEncoder's
    encoding of ""). `source` [B, z, F, h, w]: the clean source latents both branches see (a source model; with
    the conditional recipe the unconditional branch then means "keep the source"). g = 1 is the conditional
    branch."""
    uncond = torch.zeros_like(cond) if uncond is None else uncond.expand_as(cond)
    both = None if source is None else torch.cat([source, source])  # [2B, z, F, h, w]

    def fn(x: Tensor, t: Tensor) -> Tensor:
        out = dit(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond]), source=both)  # [2B, z, F, h, w]
        c, u = out.chunk(2)
        return u + guidance * (c - u)

    return fn


def load_teacher(workdir: Path, config: TrainConfig, ema: bool = True) -> TextToVideo:
    state = require_ckpt(workdir, STAGE)
    model = TextToVideo(build_dit(config, causal=False), build_text(config))
    model.load_state_dict(state["ema" if ema else "model"])
    return model


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    build_latent_cache(workdir, config, log, device)
    cache = LatentCache.load(workdir)
    conditional = config.conditional.source
    if conditional and config.conditional.real > 0:
        build_real_cache(workdir, config, log, device)
    real = RealLatents.load(workdir) if conditional and config.conditional.real > 0 else None
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    torch.manual_seed(config.seed)
    model = TextToVideo(build_dit(config, causal=False), build_text(config))
    model.dit.init_weights(zero_head=True)
    model.to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.teacher_lr, weight_decay=0.01)
    step, timer = resume(state, {"model": model, "ema": ema, "opt": opt})
    if step >= config.teacher_steps:
        log.info("teacher: already trained; nothing to do")
        return
    c = config.conditional
    log.info(
        f"teacher: start at step {step}/{config.teacher_steps}; DiT {model.dit.num_params()} params, "
        f"{cache.latents.shape[0]} scenes x {len(cache.styles)} styles"
        + (
            f"; source-conditioned (identity {c.identity}, source dropout {c.source_dropout}, real {c.real}"
            f"{f' from {len(real)} clips' if real is not None else ''})"
            if conditional
            else ""
        )
    )
    seed = draw_seed(config.seed, "teacher", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    h = cache.latents.shape[-1]
    crop = h // 2 if h >= 8 else None

    def snapshot() -> dict:
        return {
            "step": loop.step,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "opt": opt.state_dict(),
            "seconds": timer.total(),
        }

    model.train()
    with Loop(STAGE, step, config.teacher_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            lr = warmup_cosine(config.teacher_lr, s, config.teacher_steps, warmup=200)
            for g in opt.param_groups:
                g["lr"] = lr
            full = s % FULL_EVERY == FULL_EVERY - 1
            batch = max(1, config.teacher_batch // 2) if full else config.teacher_batch
            source = None
            if conditional:
                z, source, prompts = teacher_batch(cache, real, config, rng, batch, None if full else crop)
                source = source.to(device)  # [B, z, F, h, w]
            else:
                z, scenes, styles = cache.sample(rng, batch, None if full else crop)
                prompts = captions(
                    [cache.seeds[i] for i in scenes],
                    [cache.styles[i] for i in styles],
                    rng,
                    config.caption_dropout,
                    config.caption_short,
                )
            z = z.to(device)  # [B, z, F, h, w]
            loss = flow_matching_loss(model, z, prompts, config.sampling.shift, gen, source)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            ema_update(ema, model, min(EMA_DECAY, (s + 1) / (s + 10)))
            loop.log(s, loss=loss.item(), **({"full": loss.item()} if full else {}))
