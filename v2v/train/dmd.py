"""Stage 4, `dmd`: asymmetric distribution matching distillation (CausVid, after DMD/DMD2).

Generator: the block-causal few-step student from the `ode` stage. Its output x0 comes from running
its own sampling steps on a clip, stopping after a random number of steps (every step of the schedule
gets trained); only the last step carries gradients. Two rollouts (`dmd_rollout`):
- "parallel" (CausVid): all frames denoised together under the block-causal mask, every frame at the
  same timestep, so a frame sees *noisy* earlier frames, while at run time the KV cache holds clean ones;
- "self_forcing" (Self-Forcing, Huang et al. 2025): block by block (frames_per_block latent frames)
  exactly as the engine streams, each block's steps attending to the student's own clean (t = 0),
  detached outputs for the earlier blocks. The teacher then scores the whole self-generated clip, so
  inconsistency between consecutive chunks and errors the student makes on its own history are what
  the DMD gradient sees. ≈ 2× the generator compute for 3-frame clips.
A "parallel" run switches to "self_forcing" at critic step `dmd_self_forcing_from` (the default recipe:
1500 parallel critic steps, then 1300 self-forcing ones up to `dmd_steps` 2800, with the paired weight raised
to `dmd_paired_self_forcing`; the EMA restarts from the student at the switch), see `phase`.
Half the rollouts start from pure noise at t = 1000, half are video-to-video starts as the engine
makes them (another style's latents noised to s, first timestep 1000·s − v2v_offset, the target-style
caption). An EMA of the generator (`dmd_ema` per generator step) is kept in the checkpoint; export
ships it. The checkpoint also records the schedule that ran: `phases`, one [step, rollout, paired weight,
rollout-paired weight] entry at each step where `phase` changed, and `ema_from`, the step at which the EMA last
started from the generator (None where a checkpoint from before this record, or `train seed`'s, brought it).

Real score: the frozen bidirectional teacher with classifier-free guidance. Fake score: a trainable
critic initialised from the teacher. With x0 noised to a shifted-uniform t in [20, 980]:
    grad = (x0_fake − x0_real) / mean|x0 − x0_real|,   L_G = 0.5·MSE(x0, (x0 − grad).detach())
The critic trains every step with flow matching on the detached generator outputs; the generator every
`dmd_gen_every` steps (a run resumed from a checkpoint without a critic, `train seed`'s, first trains the
critic alone for `dmd_critic_warmup` steps, so the generator's first gradients come from a fake score that
has seen its outputs). AdamW, gradient clipping. The paired cross-style term of the `ode` stage is
kept on generator steps with a small weight (`dmd_paired`) so the restyle stays anchored to the
input's structure; set it to 0 for pure DMD. That term is teacher-forced (clean or noised ground truth
as history); `dmd_rollout_paired` (from step `dmd_rollout_paired_from`) adds one on the generator's own
rollout of a video-to-video start, against the true restyle: latents and their frame-to-frame change
(`rollout_paired_loss`), the term aimed at the jumps at chunk boundaries (docs/training.md).

With the conditional recipe on (v2v/train/conditional.py) the generator, the real score and the critic are all
told the clean source latents (the DiT's source channels): a video-to-video start's source is the clip that was
noised (another style of the scene, the same style at the share `identity`, a real clip at the share `real`, which
has no ground truth for the rollout terms), a pure-noise start is told a source too except at the share
`source_dropout`; the real score is the conditional teacher with CFG and the same source, the critic is
source-conditioned, the rollouts pass the source to every student call, and the paired term tells the student
the clean style-A latents (`ode.paired_batch`).

Shape letters: B batch, z latent channels, F latent frames, h/w latent.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_
from torch import Tensor

from v2v.models.dit import DiT
from v2v.models.protocols import PromptEncoder
from v2v.sampling import (
    add_noise,
    flow_target,
    sample_train_timesteps,
    v2v_timesteps,
    x0_from_flow,
)
from v2v.train.common import (
    DMD_T_MAX,
    DMD_T_MIN,
    Loop,
    TrainConfig,
    build_dit,
    ckpt_path,
    draw_seed,
    ema_update,
    frozen,
    load_ckpt,
    randn,
    require_ckpt,
    resume,
    stage_logger,
)
from v2v.train.conditional import RealLatents, pair_latents, plan_pairs
from v2v.train.ode import conditional_real, paired_batch, x0_loss
from v2v.train.teacher import LatentCache, TextToVideo, captions, cfg_flow, load_teacher

STAGE = "dmd"
ROLLOUTS = ("parallel", "self_forcing")


def rollout(
    student: DiT,
    ctx: Tensor,
    x_t: Tensor,
    timesteps: list[float],
    gen: torch.Generator,
    grad: bool,
    source: Tensor | None = None,
) -> tuple[Tensor, float]:
    """Few-step sampling (CausVid Alg. 1 over a whole clip, block-causal mask), stopped after a random
    number of steps; a source model is told `source` [B, z, F, h, w] at every step.
    -> (x0 [B, z, F, h, w], the timestep of the last step)."""
    B, _, F = x_t.shape[:3]
    n = int(torch.randint(1, len(timesteps) + 1, (1,), generator=gen))
    x0 = x_t
    for i, t in enumerate(timesteps[:n]):
        last = i == n - 1
        with torch.set_grad_enabled(grad and last):
            tt = torch.full((B, F), float(t), device=x_t.device)  # [B, F]
            x0 = x0_from_flow(x_t, student(x_t, tt, ctx, source=source), t / 1000.0)
        if not last:
            x_t = add_noise(x0.detach(), randn(x0.shape, gen, x0.device), timesteps[i + 1] / 1000.0)
    return x0, timesteps[n - 1]


def rollout_self_forcing(
    student: DiT,
    ctx: Tensor,
    x_t: Tensor,
    timesteps: list[float],
    gen: torch.Generator,
    grad: bool,
    source: Tensor | None = None,
) -> tuple[Tensor, float]:
    """Few-step sampling block by block as the engine streams (Self-Forcing): block k's steps see the
    student's own clean outputs of the earlier blocks at t = 0 (detached: the KV cache pass at run time
    carries no gradient either); the same random stop for every block, gradient through each block's
    last step. A source model is told the frames of `source` [B, z, F, h, w] it sees (history and block).
    -> (x0 [B, z, F, h, w], the timestep of the last step)."""
    B, _, F = x_t.shape[:3]
    fpb = student.config.frames_per_block
    n = int(torch.randint(1, len(timesteps) + 1, (1,), generator=gen))
    outs: list[Tensor] = []  # blocks of [B, z, f, h, w]
    for k in range(0, F, fpb):
        xk = x_t[:, :, k : k + fpb]  # [B, z, f, h, w]
        f = xk.shape[2]
        history = torch.cat([o.detach() for o in outs], dim=2) if outs else None  # [B, z, k, h, w]
        src = None if source is None else source[:, :, : k + f]  # [B, z, k + f, h, w]
        for i, t in enumerate(timesteps[:n]):
            last = i == n - 1
            with torch.set_grad_enabled(grad and last):
                inp = xk if history is None else torch.cat([history, xk], dim=2)  # [B, z, k + f, h, w]
                tt = torch.zeros(B, k + f, device=x_t.device)  # [B, k + f]
                tt[:, k:] = float(t)
                flow = student(inp, tt, ctx, source=src)[:, :, k:]  # [B, z, f, h, w]
                x0k = x0_from_flow(xk, flow, t / 1000.0)
            if not last:
                xk = add_noise(x0k.detach(), randn(x0k.shape, gen, x0k.device), timesteps[i + 1] / 1000.0)
        outs.append(x0k)
    return torch.cat(outs, dim=2), timesteps[n - 1]  # [B, z, F, h, w]


def generator_inputs(
    cache: LatentCache,
    config: TrainConfig,
    rng: np.random.Generator,
    gen: torch.Generator,
    text: PromptEncoder,
    crop: int | None,
    real: RealLatents | None = None,
) -> tuple[Tensor, Tensor, list[float], Tensor | None, Tensor | None]:
    """A batch of starts: (x_t [B, z, F, h, w], context [B, L, D], the student's timesteps from there,
    the ground-truth target-style latents [B, z, F, h, w] of a video-to-video start (None for pure noise, or
    where a clip has none), the clean source latents [B, z, F, h, w] every model is told (None without the
    conditional recipe; zeros where a pure-noise start is told none))."""
    if config.conditional.source:
        return conditional_inputs(cache, config, rng, gen, text, crop, real)
    B = config.dmd_batch
    N, S = cache.latents.shape[:2]
    scenes = rng.integers(0, N, B).tolist()
    targets = rng.integers(0, S, B).tolist()
    prompts = captions(
        [cache.seeds[i] for i in scenes], [cache.styles[j] for j in targets], rng, 0.0, config.caption_short
    )
    ctx = text.encode(prompts)
    src_styles = [(j + 1 + int(rng.integers(0, S - 1))) % S if S > 1 else j for j in targets]
    both = torch.stack([cache.latents[scenes, src_styles], cache.latents[scenes, targets]], dim=1)  # [B, 2, z, F, h, w]
    both = LatentCache.crop(both.float(), rng, crop).to(ctx.device)  # [B, 2, z, F, h', w']
    src, tgt = both[:, 0], both[:, 1]  # [B, z, F, h', w'] each
    noise = randn(src.shape, gen, src.device)
    if rng.random() < 0.5:
        return noise, ctx, [float(t) for t in config.sampling.timesteps], None, None
    strength = float(rng.uniform(0.5, 0.9))
    steps = v2v_timesteps(config.sampling.timesteps, strength, config.sampling.v2v_offset)
    return add_noise(src, noise, strength), ctx, steps, tgt, None


def conditional_inputs(
    cache: LatentCache,
    config: TrainConfig,
    rng: np.random.Generator,
    gen: torch.Generator,
    text: PromptEncoder,
    crop: int | None,
    real: RealLatents | None,
) -> tuple[Tensor, Tensor, list[float], Tensor | None, Tensor]:
    """`generator_inputs` of the conditional recipe: conditional.plan_pairs' pairs (real clips restyled, without
    a ground truth), one crop for the batch; half the batches pure noise told the sources (each dropped at the
    share `source_dropout`), half the sources noised to s ~ U(0.5, 0.9)."""
    cond = config.conditional
    pairs = plan_pairs(
        cache,
        real,
        cond,
        rng,
        config.dmd_batch,
        caption_dropout=0.0,
        caption_short=config.caption_short,
        source_dropout=0.0,
        restyle_real=True,
    )
    ctx = text.encode([p.prompt for p in pairs])
    tgt, src = pair_latents(cache, real, pairs)  # [B, z, F, h, w] each
    both = LatentCache.crop(torch.stack([src, tgt], dim=1), rng, crop).to(ctx.device)  # [B, 2, z, F, h', w']
    src, tgt = both[:, 0], both[:, 1]  # [B, z, F, h', w'] each
    target = tgt if all(p.target is not None for p in pairs) else None
    noise = randn(src.shape, gen, src.device)
    if rng.random() < 0.5:
        told = torch.from_numpy(rng.random(len(pairs)) >= cond.source_dropout).to(src)  # [B]
        return noise, ctx, [float(t) for t in config.sampling.timesteps], None, src * told[:, None, None, None, None]
    strength = float(rng.uniform(0.5, 0.9))
    steps = v2v_timesteps(config.sampling.timesteps, strength, config.sampling.v2v_offset)
    return add_noise(src, noise, strength), ctx, steps, target, src


def rollout_paired_loss(x0: Tensor, target: Tensor) -> Tensor:
    """The generator's own rollout x0 [B, z, F, h, w] against the true restyle of its input: MSE of the latents
    plus MSE of their frame-to-frame change, so consecutive blocks change as the ground truth does (the jump at a
    chunk boundary is the difference of two blocks' errors)."""
    step = x0[:, :, 1:] - x0[:, :, :-1]  # [B, z, F - 1, h, w]
    true = target[:, :, 1:] - target[:, :, :-1]  # [B, z, F - 1, h, w]
    return F_.mse_loss(x0, target) + F_.mse_loss(step, true)


def dmd_loss(
    x0: Tensor,
    ctx: Tensor,
    teacher: TextToVideo,
    critic: DiT,
    config: TrainConfig,
    gen: torch.Generator,
    source: Tensor | None = None,
) -> Tensor:
    """The DMD generator loss 0.5·MSE(x0, (x0 − grad).detach()), grad = (fake − real)/mean|x0 − real|; both
    scores are told `source` [B, z, F, h, w] (None: no source)."""
    B = x0.shape[0]
    t = dmd_timesteps(B, config, gen).to(x0.device)  # [B]
    sigma = t / 1000.0
    with torch.no_grad():
        noisy = add_noise(x0.detach(), randn(x0.shape, gen, x0.device), sigma)
        real = x0_from_flow(noisy, cfg_flow(teacher.dit, ctx, dmd_guidance(config), source=source)(noisy, t), sigma)
        fake = x0_from_flow(noisy, critic(noisy, t, ctx, source=source), sigma)
        norm = (x0.detach() - real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-6)
        grad = torch.nan_to_num((fake - real) / norm)
    return 0.5 * F_.mse_loss(x0, (x0 - grad).detach())


def dmd_timesteps(batch: int, config: TrainConfig, gen: torch.Generator) -> Tensor:
    """The timesteps [batch] at which the DMD scores are compared: the shifted training law clamped to CausVid's
    [DMD_T_MIN, DMD_T_MAX]."""
    return sample_train_timesteps([batch], config.sampling.shift, generator=gen, low=DMD_T_MIN, high=DMD_T_MAX)


def critic_loss(
    critic: DiT, x0: Tensor, ctx: Tensor, config: TrainConfig, gen: torch.Generator, source: Tensor | None = None
) -> Tensor:
    """Flow matching of the fake score on the generator's (detached) outputs, told `source` (None: none)."""
    B = x0.shape[0]
    t = sample_train_timesteps([B], config.sampling.shift, generator=gen).to(x0.device)  # [B]
    noise = randn(x0.shape, gen, x0.device)
    return F_.mse_loss(critic(add_noise(x0, noise, t / 1000.0), t, ctx, source=source), flow_target(x0, noise))


def dmd_guidance(config: TrainConfig) -> float:
    """The real score's CFG scale: `dmd_guidance` where set, else the teacher's `guidance` (ODE pairs)."""
    return config.guidance if config.dmd_guidance is None else config.dmd_guidance


def phase(config: TrainConfig, step: int) -> tuple[str, float, float]:
    """(rollout, paired-term weight, rollout-paired weight) at critic step `step`."""
    rolled = config.dmd_rollout_paired if step >= config.dmd_rollout_paired_from else 0.0
    if config.dmd_rollout == "parallel" and step >= config.dmd_self_forcing_from:
        return "self_forcing", config.dmd_paired_self_forcing, rolled
    return config.dmd_rollout, config.dmd_paired, rolled


def run(workdir: Path, config: TrainConfig, device: torch.device = torch.device("cpu")) -> None:
    log = stage_logger(workdir, STAGE)
    teacher = frozen(load_teacher(workdir, config)).to(device)
    cache = LatentCache.load(workdir)
    real = conditional_real(workdir, config, log)
    student = build_dit(config, causal=True)
    student.load_state_dict(require_ckpt(workdir, "ode")["student"])
    student.to(device)
    critic = copy.deepcopy(teacher.dit).requires_grad_(True)
    if config.dmd_rollout not in ROLLOUTS:
        raise ValueError(f"dmd_rollout must be one of {ROLLOUTS}, got {config.dmd_rollout!r}")
    opt_g = torch.optim.AdamW(student.parameters(), lr=config.gen_lr, betas=(0.0, 0.999), weight_decay=0.01)
    opt_c = torch.optim.AdamW(critic.parameters(), lr=config.critic_lr, betas=(0.0, 0.999), weight_decay=0.01)
    path = ckpt_path(workdir, STAGE)
    state = load_ckpt(path)
    step, timer = resume(state, {"student": student, "critic": critic, "opt_g": opt_g, "opt_c": opt_c})
    ema = copy.deepcopy(student).requires_grad_(False)  # a checkpoint from before the EMA: start it here
    ema_from = step
    if state is not None and "student_ema" in state:
        ema.load_state_dict(state["student_ema"])
        ema_from = state.get("ema_from")
    phases = list(state.get("phases", [])) if state is not None else []  # [step, rollout, paired, rollout-paired]
    warm_until = state.get("critic_warm_until", 0) if state is not None else 0
    if state is not None and "critic" not in state:
        warm_until = step + config.dmd_critic_warmup
        log.info(
            f"dmd: {state.get('seeded_from', 'the checkpoint')} holds no critic: it restarts from the teacher, "
            f"and the optimisers start fresh; the critic trains alone until step {warm_until}"
        )
    if step >= config.dmd_steps:
        log.info("dmd: already trained; nothing to do")
        return
    mode, paired, _ = phase(config, step)
    switch = (
        f", self_forcing with paired {config.dmd_paired_self_forcing} from step {config.dmd_self_forcing_from}"
        if mode == "parallel" and config.dmd_self_forcing_from < config.dmd_steps
        else ""
    )
    term = (
        f", rollout-paired {config.dmd_rollout_paired} from step {max(config.dmd_rollout_paired_from, step)}"
        if config.dmd_rollout_paired > 0 and config.dmd_rollout_paired_from < config.dmd_steps
        else ""
    )
    term += ", source-conditioned" if config.conditional.source else ""
    log.info(
        f"dmd: start at step {step}/{config.dmd_steps} ({mode} rollout, paired {paired}{switch}{term}, "
        f"real-score CFG {dmd_guidance(config)}, scores at t ≤ {DMD_T_MAX:g}, EMA {config.dmd_ema})"
    )
    seed = draw_seed(config.seed, "dmd", step)  # one seed for both generators
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    h = cache.latents.shape[-1]
    half = h // 2 if h >= 8 else None

    def snapshot() -> dict:
        return {
            "step": loop.step,
            "student": student.state_dict(),
            "student_ema": ema.state_dict(),
            "critic": critic.state_dict(),
            "critic_warm_until": warm_until,
            "phases": phases,
            "ema_from": ema_from,
            "opt_g": opt_g.state_dict(),
            "opt_c": opt_c.state_dict(),
            "seconds": timer.total(),
        }

    student.train()
    critic.train()
    with Loop(STAGE, step, config.dmd_steps, path, snapshot, log, config.ckpt_seconds) as loop:
        for s in loop:
            mode, paired, rolled = phase(config, s)
            if not phases or phases[-1][1:] != [mode, paired, rolled]:
                phases.append([s, mode, paired, rolled])
            if mode != config.dmd_rollout and s == config.dmd_self_forcing_from:
                ema.load_state_dict(student.state_dict())
                ema_from = s
                log.info(f"step {s}: self-forcing rollout from here, paired {paired}; the EMA restarts")
            roll = rollout if mode == "parallel" else rollout_self_forcing
            crop = half if rng.random() < 0.5 else None
            x_t, ctx, steps, target, source = generator_inputs(cache, config, rng, gen, teacher.text, crop, real)
            gen_step = s % config.dmd_gen_every == config.dmd_gen_every - 1 and s >= warm_until
            x0, _ = roll(student, ctx, x_t, steps, gen, grad=gen_step, source=source)
            losses = {}
            if gen_step:
                loss_g = dmd_loss(x0, ctx, teacher, critic, config, gen, source)
                losses["dmd"] = loss_g.item()
                if paired > 0:
                    batch = paired_batch(cache, config, rng, config.dmd_batch, crop, real)
                    loss_p = x0_loss(student, teacher.text, *batch)
                    loss_g = loss_g + paired * loss_p
                    losses["paired"] = loss_p.item()
                if rolled > 0 and target is not None:
                    loss_r = rollout_paired_loss(x0, target)
                    loss_g = loss_g + rolled * loss_r
                    losses["rollout"] = loss_r.item()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
                opt_g.step()
                ema_update(ema, student, config.dmd_ema)
            loss_c = critic_loss(critic, x0.detach(), ctx, config, gen, source)
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            torch.nn.utils.clip_grad_norm_(critic.parameters(), config.grad_clip)
            opt_c.step()
            losses["critic"] = loss_c.item()
            loop.log(s, **losses)
