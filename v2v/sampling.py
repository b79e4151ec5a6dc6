"""Flow-matching schedules and few-step sampling: pure functions, no model state.

Conventions (Wan2.1 / CausVid rectified flow):
    x_t = (1 - σ)·x0 + σ·ε          σ in [0, 1], timestep t = 1000·σ
    the model predicts the flow v = ε - x0, so x0 = x_t - σ·v
The training/inference σ grid is linspace(1, 0, 1001)[:-1] passed through the shift
σ' = s·σ / (1 + (s - 1)·σ) (SD3, "Scaling Rectified Flow Transformers", eq. 23; Wan's `shift`).

Shape letters: B batch, C channels, F latent frames, h/w latent height/width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

NUM_TRAIN_TIMESTEPS = 1000

# model(x_t [B,C,F,h,w], t [B,F] in 0..1000) -> flow [B,C,F,h,w]
FlowModel = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class SamplingConfig:
    """How a few-step student is sampled."""

    shift: float = 8.0  # σ-shift of the flow-matching grid (CausVid 8, Self-Forcing 5)
    timesteps: tuple[float, ...] = (1000.0, 757.0, 522.0)  # the student's denoising steps, 0..1000, descending
    v2v_offset: float = 100.0  # video-to-video: first model timestep = 1000·strength − offset (StreamDiffusionV2)
    frames_per_block: int = 1  # latent frames per streamed chunk


def causvid() -> SamplingConfig:
    """The released CausVid student: shift 8, three steps [1000, 757, 522], 3 latent frames per block."""
    return SamplingConfig(shift=8.0, timesteps=(1000.0, 757.0, 522.0), frames_per_block=3)


def self_forcing() -> SamplingConfig:
    """Self-Forcing: [1000, 750, 500, 250] warped through the shift-5 table, 3 latent frames per block."""
    return SamplingConfig(shift=5.0, timesteps=tuple(warp_timesteps([1000, 750, 500, 250], 5.0)), frames_per_block=3)


def streamdiffusionv2() -> SamplingConfig:
    """StreamDiffusionV2 (video-to-video): steps from [700, 500, 400, 200], 1 latent frame per block."""
    return SamplingConfig(shift=5.0, timesteps=(700.0, 500.0, 400.0, 200.0), frames_per_block=1)


def shifted_sigmas(shift: float, n: int = NUM_TRAIN_TIMESTEPS) -> Tensor:
    """The shifted σ grid: σ = linspace(1, 0, n+1)[:-1], σ' = s·σ / (1 + (s−1)·σ). float64 [n], descending."""
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    sigma = torch.linspace(1.0, 0.0, n + 1, dtype=torch.float64)[:-1]  # [n]
    return shift * sigma / (1.0 + (shift - 1.0) * sigma)


def warp_timesteps(steps: Sequence[float], shift: float) -> list[float]:
    """Map evenly spaced timesteps through the shifted table, as CausVid does for its student:
    t -> 1000·σ'[1000 − t]. [1000, 750, 500, 250] at shift 8 -> [1000, 960.0, 888.9, 727.3]."""
    table = shifted_sigmas(shift) * NUM_TRAIN_TIMESTEPS  # [1000]
    out = []
    for t in steps:
        i = NUM_TRAIN_TIMESTEPS - int(round(float(t)))
        if not 0 <= i < NUM_TRAIN_TIMESTEPS:
            raise ValueError(f"timestep must be in (0, 1000], got {t}")
        out.append(float(table[i]))
    return out


def _expand(sigma: Tensor | float, x: Tensor) -> Tensor:
    """σ as [B] (one per clip) or [B, F] (one per latent frame) -> broadcastable to x [B, C, F, h, w]."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 0:
        return sigma
    if sigma.ndim == 1:
        return sigma.view(-1, 1, 1, 1, 1)  # [B, 1, 1, 1, 1]
    if sigma.ndim == 2:
        return sigma[:, None, :, None, None]  # [B, 1, F, 1, 1]
    raise ValueError(f"sigma must be a scalar, [B] or [B, F]; got shape {tuple(sigma.shape)}")


def add_noise(x0: Tensor, noise: Tensor, sigma: Tensor | float) -> Tensor:
    """x_t = (1 − σ)·x0 + σ·ε. x0, noise [B, C, F, h, w]; σ scalar, [B] or [B, F]."""
    s = _expand(sigma, x0)
    return (1.0 - s) * x0 + s * noise


def x0_from_flow(x_t: Tensor, flow: Tensor, sigma: Tensor | float) -> Tensor:
    """x0 = x_t − σ·v for the flow v = ε − x0 (computed in float32 at least)."""
    dtype = torch.promote_types(x_t.dtype, torch.float32)
    s = _expand(sigma, x_t.to(dtype))
    return x_t.to(dtype) - s * flow.to(dtype)


def flow_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The regression target of flow matching: v = ε − x0."""
    return noise - x0


def sample_train_timesteps(
    shape: Sequence[int],
    shift: float,
    generator: torch.Generator | None = None,
    low: float = 0.0,
    high: float = float(NUM_TRAIN_TIMESTEPS),
    device: torch.device | str | None = None,
    truncate: bool = False,
) -> Tensor:
    """Training timesteps: u ~ U(0, 1), shifted like the grid, scaled to 0..1000, clamped to [low, high], so the
    draws outside the range pile up at its ends. truncate: u is drawn inside the range of u whose t is in
    [low, high] instead, the same law restricted to the range with nothing piled at its ends.
    Returns float32 of `shape` (e.g. [B] or [B, F] for diffusion forcing)."""
    u = torch.rand(tuple(shape), generator=generator, device=device)
    if truncate:
        lo, hi = (t / (NUM_TRAIN_TIMESTEPS * shift - (shift - 1.0) * t) for t in (low, high))  # the shift inverted
        u = lo + (hi - lo) * u
    t = NUM_TRAIN_TIMESTEPS * shift * u / (1.0 + (shift - 1.0) * u)
    return t.clamp(low, high)


def strength_to_timestep(strength: float, offset: float = 100.0) -> float:
    """Video-to-video: the first model timestep for a noise strength s, 1000·s − offset (StreamDiffusionV2
    tells the model slightly less noise than was added). Clamped to [1, 1000]."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    return float(min(max(NUM_TRAIN_TIMESTEPS * strength - offset, 1.0), NUM_TRAIN_TIMESTEPS))


def v2v_timesteps(
    student: Sequence[float], strength: float, offset: float = 100.0, steps: int | None = None
) -> list[float]:
    """The denoising steps for video-to-video at strength s: start at 1000·s − offset, then the student's
    steps below it. `steps` caps the count (at least 1). E.g. student [1000, 750, 500, 250], s 0.8 ->
    [700, 500, 250]."""
    first = strength_to_timestep(strength, offset)
    rest = [float(t) for t in student if t < first]
    out = [first, *rest]
    if steps is not None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        out = out[:steps]
    return out


def sample_chunk(
    model: FlowModel, x_t: Tensor, timesteps: Sequence[float], noise_fn: Callable[[Tensor], Tensor]
) -> Tensor:
    """Few-step sampling of one chunk (CausVid Alg. 1 inner loop): for each t_i, x0 = x_t − σ_i·G(x_t, t_i);
    re-noise x0 with fresh noise to t_{i+1}; the last x0 is the output.
    x_t [B, C, F, h, w] already at σ = timesteps[0]/1000; noise_fn(like) -> fresh ε of that shape."""
    B, _, F, _, _ = x_t.shape
    x0 = x_t
    for i, t in enumerate(timesteps):
        tt = torch.full((B, F), float(t), device=x_t.device, dtype=torch.float32)  # [B, F]
        x0 = x0_from_flow(x_t, model(x_t, tt), t / NUM_TRAIN_TIMESTEPS).to(x_t.dtype)
        if i + 1 < len(timesteps):
            x_t = add_noise(x0, noise_fn(x0), timesteps[i + 1] / NUM_TRAIN_TIMESTEPS)
    return x0


def euler_sample(
    model: FlowModel, x_t: Tensor, num_steps: int, shift: float, t_start: float = 1000.0, keep: Sequence[float] = ()
) -> tuple[Tensor, dict[float, Tensor]]:
    """Many-step Euler solve of the probability-flow ODE dx/dσ = v from t_start down to 0 on the shifted
    grid (the teacher's sampler). The timesteps in `keep` are inserted into the grid, so the returned
    states sit exactly on them (CausVid's ODE pairs: the trajectory at the student's timesteps).
    x_t [B, C, F, h, w] at σ = t_start/1000. Returns (x0, {t: x_t}) in x_t's dtype."""
    grid = [float(s) * NUM_TRAIN_TIMESTEPS for s in shifted_sigmas(shift, num_steps)]
    points = {round(t, 6) for t in grid if t < t_start} | {round(float(k), 6) for k in keep if 0 < k <= t_start}
    ts = [float(t_start), *sorted(points - {round(float(t_start), 6)}, reverse=True), 0.0]  # descending
    B, _, F, _, _ = x_t.shape
    wanted = {round(float(k), 6): float(k) for k in keep}
    states: dict[float, Tensor] = {}
    x = x_t.float()
    for t_cur, t_next in zip(ts[:-1], ts[1:], strict=True):
        if round(t_cur, 6) in wanted:
            states[wanted[round(t_cur, 6)]] = x.to(x_t.dtype)
        tt = torch.full((B, F), t_cur, device=x.device, dtype=torch.float32)  # [B, F]
        v = model(x.to(x_t.dtype), tt).float()
        x = x + (t_next - t_cur) / NUM_TRAIN_TIMESTEPS * v
    return x.to(x_t.dtype), states
