"""Stage 3, `ode`: CausVid's ODE initialisation of the block-causal few-step student.

1. Pairs (WORKDIR/ode/pairs.pt, built incrementally): the EMA teacher with classifier-free guidance
   solves the flow ODE with Euler steps, and the states at the student's timesteps are kept with the
   endpoint. Half the trajectories start from pure noise at t = 1000 (text to video); half are
   video-to-video starts as the engine makes them: the latents of the same scene in ANOTHER style
   noised to strength s ~ U(0.5, 0.9), solved from t = 1000·s − v2v_offset with the target-style
   caption (so the student also learns the intermediate starts the engine uses).
2. Regression: the student (same DiT, causal=True, frames_per_block from the sampling config,
   initialised from the teacher) gets an independent timestep per block (diffusion forcing) — one of
   the pair's kept states, or t = 0 (the clean frame, as the KV cache holds it at run time) — and its
   x0 = x_t − σ·flow is regressed on the ODE endpoint.
3. Paired cross-style term (an addition to CausVid, weight `ode_supervised`): the procedural data
   renders every scene in every style, so for v2v starts the true target exists: latents of style A
   noised to s (told t = 1000·s − offset) with the caption of style B must give style B's latents of
   the same scene; frames at the student's later steps are style B's latents re-noised. This teaches
   the structure-preserving restyle (e.g. blocky → realistic) that text-only distillation cannot.

With the conditional recipe on (v2v/train/conditional.py) the teacher and the student see the clean source
latents as source channels: a video-to-video pair's source is the clip whose latents were noised to s (another
style of the scene, the same style at the share `identity`, or at the share `real` a real clip), and the teacher's
guided solve is told it (`cfg_flow(..., source=)`); a pure-noise pair is told a source too, except at the share
`source_dropout` (text to video). The pair keeps its source and the student regresses with it; the paired term's
student is told the clean style-A latents, and at the share `real` the pair is a real clip kept as it is (the
empty prompt, or "realistic" for a photo).

Shape letters: B batch, K kept states, z latent channels, F latent frames, h/w latent.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from v2v.models.dit import DiT
from v2v.models.protocols import PromptEncoder
from v2v.sampling import add_noise, euler_sample, x0_from_flow
from v2v.train.common import (
    Loop,
    TrainConfig,
    build_dit,
    ckpt_path,
    draw_seed,
    frozen,
    load_ckpt,
    module_device,
    randn,
    resume,
    save_ckpt,
    stage_logger,
)
from v2v.train.conditional import RealLatents, pair_latents, plan_pairs
from v2v.train.teacher import LatentCache, TextToVideo, captions, cfg_flow, load_teacher

STAGE = "ode"
CLEAN_PROB = 0.2
PAIR_BATCH = 4


def v2v_start(strength: float, offset: float) -> float:
    return float(min(max(1000.0 * strength - offset, 1.0), 1000.0))


def _euler_steps(config: TrainConfig, t_start: float) -> int:
    """Grid size so that about ode_euler_steps points of the shifted grid lie below t_start."""
    s, tau = config.sampling.shift, t_start / 1000.0
    frac = tau / (s - (s - 1.0) * tau)
    return max(config.ode_euler_steps, math.ceil(config.ode_euler_steps / max(frac, 1e-3)))


def conditional_starts(
    cache: LatentCache,
    real: RealLatents | None,
    config: TrainConfig,
    rng: np.random.Generator,
    gen: torch.Generator,
    batch: int,
    from_noise: bool,
    device: torch.device,
) -> tuple[Tensor, float, list[str], Tensor, list[bool]]:
    """The starts of a batch of conditional ODE pairs: pure noise (each told its source, except at the share
    `source_dropout`) or the sources noised to s ~ U(0.5, 0.9) and solved from 1000·s − v2v_offset.
    -> (x [B, z, F, h, w], t_start, prompts, sources [B, z, F, h, w] (zeros where none), has a source)."""
    cond = config.conditional
    pairs = plan_pairs(
        cache,
        real,
        cond,
        rng,
        batch,
        caption_dropout=0.0,
        caption_short=config.caption_short,
        source_dropout=cond.source_dropout if from_noise else 0.0,
        restyle_real=True,
    )
    source = pair_latents(cache, real, pairs)[1].to(device)  # [B, z, F, h, w]
    noise = randn(source.shape, gen, device)
    prompts, has = [p.prompt for p in pairs], [p.source is not None for p in pairs]
    if from_noise:
        return noise, 1000.0, prompts, source, has
    strength = float(rng.uniform(0.5, 0.9))
    return add_noise(source, noise, strength), v2v_start(strength, config.sampling.v2v_offset), prompts, source, has


@torch.no_grad()
def build_pairs(
    workdir: Path,
    config: TrainConfig,
    teacher: TextToVideo,
    cache: LatentCache,
    log: logging.Logger,
    real: RealLatents | None = None,
) -> list[dict]:
    """Teacher trajectories: list of {"ts": [K], "states": [K, z, F, h, w], "x0": [z, F, h, w], "prompt"}, and
    with the conditional recipe "source" [z, F, h, w] (the clean latents the teacher was told; absent: none)."""
    from tqdm import tqdm

    path = workdir / STAGE / "pairs.pt"
    pairs: list[dict] = load_ckpt(path) or []
    seed = draw_seed(config.seed, "ode pairs", len(pairs))  # one seed for both generators
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(total=config.ode_pairs, initial=len(pairs), desc="ode pairs")
    device = module_device(teacher)
    while len(pairs) < config.ode_pairs:
        B = min(PAIR_BATCH, config.ode_pairs - len(pairs))
        if config.conditional.source:
            x, t_start, prompts, source, has = conditional_starts(
                cache, real, config, rng, gen, B, len(pairs) % (2 * PAIR_BATCH) == 0, device
            )
            _solve(pairs, teacher, config, x, t_start, prompts, source, has)
        else:
            _plain_pairs(pairs, teacher, cache, config, rng, gen, B, device)
        bar.update(B)
        if len(pairs) % (4 * PAIR_BATCH) == 0 or len(pairs) >= config.ode_pairs:
            save_ckpt(path, pairs)
    bar.close()
    log.info(f"ode pairs: {len(pairs)}")
    return pairs


def _plain_pairs(
    pairs: list[dict],
    teacher: TextToVideo,
    cache: LatentCache,
    config: TrainConfig,
    rng: np.random.Generator,
    gen: torch.Generator,
    B: int,
    device: torch.device,
) -> None:
    """B more pairs of the plain recipe: every other batch from pure noise, the others from another style."""
    N, S = cache.latents.shape[:2]
    scenes = rng.integers(0, N, B).tolist()
    targets = rng.integers(0, S, B).tolist()
    prompts = captions(
        [cache.seeds[i] for i in scenes], [cache.styles[j] for j in targets], rng, 0.0, config.caption_short
    )
    z_shape = cache.latents.shape[2:]
    noise = randn((B, *z_shape), gen, device)
    if len(pairs) % (2 * PAIR_BATCH) == 0:
        t_start, x = 1000.0, noise
    else:
        sources = [(j + 1 + int(rng.integers(0, S - 1))) % S if S > 1 else j for j in targets]
        strength = float(rng.uniform(0.5, 0.9))
        t_start = v2v_start(strength, config.sampling.v2v_offset)
        x = add_noise(cache.latents[scenes, sources].float().to(device), noise, strength)
    _solve(pairs, teacher, config, x, t_start, prompts)


def _solve(
    pairs: list[dict],
    teacher: TextToVideo,
    config: TrainConfig,
    x: Tensor,
    t_start: float,
    prompts: list[str],
    source: Tensor | None = None,
    has: list[bool] | None = None,
) -> None:
    """The teacher's guided Euler solve from x [B, z, F, h, w] at t_start (told `source` where given), the
    states at the student's timesteps below t_start kept: appends B pairs."""
    keep = [t for t in config.sampling.timesteps if t < t_start]
    flow = cfg_flow(teacher.dit, teacher.text.encode(prompts), config.guidance, source=source)
    x0, states = euler_sample(flow, x, _euler_steps(config, t_start), config.sampling.shift, t_start=t_start, keep=keep)
    ts = [t_start, *keep]
    stacked = torch.stack([x, *[states[t] for t in keep]], 1)  # [B, K, z, F, h, w]
    for b in range(x.shape[0]):
        pair = {"ts": ts, "states": stacked[b].half().cpu(), "x0": x0[b].half().cpu(), "prompt": prompts[b]}
        if source is not None and has is not None and has[b]:
            pair["source"] = source[b].half().cpu()
        pairs.append(pair)


def pair_batch(
    pairs: list[dict], rng: np.random.Generator, batch: int, crop: int | None = None
) -> tuple[Tensor, Tensor, Tensor, list[str], Tensor | None]:
    """Diffusion forcing over ODE pairs: per frame a kept state or (CLEAN_PROB) the clean endpoint;
    optionally the same random crop of state and endpoint (the trajectories are mostly local, and a
    crop costs a quarter). -> x_t [B, z, F, h, w], t [B, F], x0 [B, z, F, h, w], prompts, and the pairs'
    sources [B, z, F, h, w] at the same crop (zeros where a pair has none; None when no pair has one)."""
    xs, ts, x0s, prompts, sources = [], [], [], [], []
    for i in rng.integers(0, len(pairs), batch).tolist():
        p = pairs[i]
        x0 = p["x0"].float()
        F, h, w = x0.shape[1:]
        k = rng.integers(0, len(p["ts"]), F)
        clean = rng.random(F) < CLEAN_PROB
        frames = torch.stack([x0[:, f] if clean[f] else p["states"][k[f], :, f].float() for f in range(F)], 1)
        pos = (int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))) if crop else None
        xs.append(LatentCache.crop(frames, rng, crop, pos))  # [z, F, c, c]
        ts.append(torch.tensor([0.0 if clean[f] else p["ts"][k[f]] for f in range(F)]))
        x0s.append(LatentCache.crop(x0, rng, crop, pos))
        prompts.append(p["prompt"])
        sources.append(LatentCache.crop(p["source"].float(), rng, crop, pos) if "source" in p else None)
    source = (
        None
        if all(s is None for s in sources)
        else torch.stack([torch.zeros_like(x) if s is None else s for s, x in zip(sources, x0s, strict=True)])
    )
    return torch.stack(xs), torch.stack(ts), torch.stack(x0s), prompts, source


def paired_batch(
    cache: LatentCache,
    config: TrainConfig,
    rng: np.random.Generator,
    batch: int,
    crop: int | None,
    real: RealLatents | None = None,
) -> tuple[Tensor, Tensor, Tensor, list[str], Tensor | None]:
    """The cross-style term: style A noised to s (told 1000·s − offset) -> style B, same scene.
    -> x_t [B, z, F, h, w], t [B, F], target x0 (style B) [B, z, F, h, w], style-B prompts, and with the
    conditional recipe the clean style-A latents [B, z, F, h, w] the student is told (else None); its pairs
    are conditional.plan_pairs' (identity pairs at the share `identity`, real clips kept as they are at `real`)."""
    full = cache.latents.shape[-1]
    if config.conditional.source:
        plan = plan_pairs(
            cache,
            real,
            config.conditional,
            rng,
            batch,
            caption_dropout=0.0,
            caption_short=config.caption_short,
            source_dropout=0.0,
            restyle_real=False,
        )
        tgt, src = pair_latents(cache, real, plan)  # [B, z, F, h, w] each
        pos = [
            (int(rng.integers(0, full - crop + 1)), int(rng.integers(0, full - crop + 1))) if crop else None
            for _ in range(batch)
        ]
        src = torch.stack([LatentCache.crop(x, rng, crop, p) for x, p in zip(src, pos, strict=True)])
        tgt = torch.stack([LatentCache.crop(x, rng, crop, p) for x, p in zip(tgt, pos, strict=True)])
    else:
        N, S = cache.latents.shape[:2]
        scenes = rng.integers(0, N, batch).tolist()
        targets = rng.integers(0, S, batch).tolist()
        sources = [(j + 1 + int(rng.integers(0, S - 1))) % S if S > 1 else j for j in targets]
        pos = [
            (int(rng.integers(0, full - crop + 1)), int(rng.integers(0, full - crop + 1))) if crop else None
            for _ in range(batch)
        ]
        src = torch.stack(
            [
                LatentCache.crop(cache.latents[i, a].float(), rng, crop, p)
                for i, a, p in zip(scenes, sources, pos, strict=True)
            ]
        )
        tgt = torch.stack(
            [
                LatentCache.crop(cache.latents[i, b].float(), rng, crop, p)
                for i, b, p in zip(scenes, targets, pos, strict=True)
            ]
        )
    B, _, F = src.shape[:3]
    strength = torch.from_numpy(rng.uniform(0.5, 0.9, (B, 1))).float().expand(B, F)  # [B, F]
    t_first = (1000.0 * strength - config.sampling.v2v_offset).clamp(1.0, 1000.0)  # [B, F]
    t_later = torch.tensor(
        [
            [float(rng.choice([*[t for t in config.sampling.timesteps if t < t_first[b, 0]], 0.0])) for _ in range(F)]
            for b in range(B)
        ]
    )  # [B, F]
    first = torch.from_numpy(rng.random((B, F)) < 0.5)  # [B, F]
    noise = torch.randn_like(src)
    x_first = add_noise(src, noise, strength)
    x_later = add_noise(tgt, noise, t_later / 1000.0)
    x_t = torch.where(first[:, None, :, None, None], x_first, x_later)  # [B, z, F, h, w]
    t = torch.where(first, t_first, t_later)
    if config.conditional.source:
        return x_t, t, tgt, [p.prompt for p in plan], src
    prompts = captions(
        [cache.seeds[i] for i in scenes], [cache.styles[j] for j in targets], rng, 0.0, config.caption_short
    )
    return x_t, t, tgt, prompts, None


def x0_loss(
    student: DiT,
    text: PromptEncoder,
    x_t: Tensor,
    t: Tensor,
    x0: Tensor,
    prompts: list[str],
    source: Tensor | None = None,
) -> Tensor:
    """MSE of the student's x0 = x_t − σ·flow against the target, on frames with t > 0 (frames at t = 0 are
    their own target; the batch moves to the student's device). A source model is told `source`
    [B, z, F, h, w], the clean latents it restyles (None: none)."""
    device = module_device(student)
    x_t, t, x0 = x_t.to(device), t.to(device), x0.to(device)
    ctx = text.encode(prompts)
    flow = student(x_t, t, ctx) if source is None else student(x_t, t, ctx, source=source.to(device))
    pred = x0_from_flow(x_t, flow, t / 1000.0)  # [B, z, F, h, w]
    weight = (t > 0).float()[:, None, :, None, None].expand_as(pred)
    return ((pred - x0).square() * weight).sum() / weight.sum().clamp_min(1.0)


def conditional_real(workdir: Path, config: TrainConfig, log: logging.Logger) -> RealLatents | None:
    """The real latents the `teacher` stage cached, where the conditional recipe draws them; else None."""
    if not (config.conditional.source and config.conditional.real > 0):
        return None
    real = RealLatents.load(workdir)
    if real is None:
        log.info("no real latent cache (WORKDIR/teacher/real_latents.pt): procedural pairs only")
    return real


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    if state is not None and state["step"] >= config.ode_steps:  # before the pairs: a finished run needs none
        log.info("ode: already trained; nothing to do")
        return
    teacher = frozen(load_teacher(workdir, config)).to(device)
    cache = LatentCache.load(workdir)
    real = conditional_real(workdir, config, log)
    pairs = build_pairs(workdir, config, teacher, cache, log, real)
    student = build_dit(config, causal=True)
    student.load_state_dict(teacher.dit.state_dict())  # the source embedding too, with the conditional recipe
    student.to(device)
    opt = torch.optim.AdamW(student.parameters(), lr=config.ode_lr, weight_decay=0.0)
    step, timer = resume(state, {"student": student, "opt": opt})
    told = ", source-conditioned" if config.conditional.source else ""
    log.info(f"ode: start at step {step}/{config.ode_steps} with {len(pairs)} pairs{told}")
    seed = draw_seed(config.seed, "ode", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    h = cache.latents.shape[-1]
    crop = h // 2 if h >= 8 else None

    def snapshot() -> dict:
        return {"step": loop.step, "student": student.state_dict(), "opt": opt.state_dict(), "seconds": timer.total()}

    student.train()
    with Loop(STAGE, step, config.ode_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            for g in opt.param_groups:
                g["lr"] = config.ode_lr * min(1.0, (s + 1) / 50)
            pair_crop = crop if s % 2 == 0 else None
            loss_ode = x0_loss(student, teacher.text, *pair_batch(pairs, rng, config.ode_batch, pair_crop))
            loss = loss_ode
            losses = {"ode": loss_ode.item()}
            if config.ode_supervised > 0:
                batch = paired_batch(cache, config, rng, config.ode_batch, crop, real)
                loss_sup = x0_loss(student, teacher.text, *batch)
                loss = loss + config.ode_supervised * loss_sup
                losses["paired"] = loss_sup.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
            opt.step()
            loop.log(s, **losses)
