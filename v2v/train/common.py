"""Shared pieces of the training stages: the run configuration, checkpoints that resume, logging,
progress bars, model construction and the procedural-data helpers.

A run lives in one work directory (default runs/default): `run.json` pins the configuration on first
use, and every stage keeps `STAGE/ckpt.pt` (written atomically every `ckpt_seconds` and on Ctrl-C /
SIGTERM) and `STAGE/log.txt`. Re-running a stage resumes from its checkpoint; a finished stage is
skipped unless asked for more steps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from v2v.models import presets
from v2v.models.dit import DiT, DiTConfig
from v2v.models.loading import config_from_dict
from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
from v2v.models.word_text import WordPromptEncoder, WordTextConfig
from v2v.pixels import to_float
from v2v.sampling import SamplingConfig

if TYPE_CHECKING:  # data imports this module
    from v2v.train.data import Scene

DMD_T_MIN, DMD_T_MAX = 20.0, 980.0  # the DMD scores' timestep range (CausVid's min_step / max_step × 1000)


@dataclass(frozen=True)
class AutoencoderConfig:
    """The `vae` stage's data and losses beside TrainConfig's vae_steps / vae_batch / vae_lr / vae_size.
    The defaults are the procedural-only recipe; docs/training.md gives what the sharp terms measured."""

    real: float = 0.0  # share of training clips from real images and video (real_data.py), 0..1
    mse: float = 1.0  # weight of the MSE beside L1 (MSE favours the mean: 0 in the sharp recipe)
    fft: float = 0.0  # weight of the L1 between log-amplitude spectra (keeps fine texture)
    perceptual: float = 0.0  # weight of the EfficientNet-Lite0 feature distance (perceptual.py)
    adversarial: float = 0.0  # scale of the patch adversarial term (adaptive weight; 0 = off)
    adversarial_from: int = 0  # the step from which the discriminator plays


@dataclass(frozen=True)
class ConditionalConfig:
    """The source-conditioned recipe of `teacher`, `ode` and `dmd` (v2v/train/conditional.py). Off (`source`
    False), every stage runs as before, draw for draw. On, every DiT (teacher, critic, student) gets
    source_channels = the VAE's z_dim and sees the clean latents of the clip it restyles; docs/training.md."""

    source: bool = False  # the switch: the DiTs see the clean source latents
    identity: float = 0.2  # share of captioned pairs whose source style is the target style, 0..1
    source_dropout: float = 0.1  # share of clips without a source (text to video: zeros), 0..1
    real: float = 0.1  # share of clips from real content (identity pairs; needs the train extra), 0..1
    real_clips: int = 64  # clips of real content encoded once (WORKDIR/teacher/real_latents.pt)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; stored as run.json in the work directory."""

    size: tuple[int, int] = (256, 256)  # (W, H) training pixels (also the shipped working size)
    vae_size: tuple[int, int] = (64, 64)  # (W, H) crops the VAE trains on (it is fully convolutional)
    latent_frames: int = 3  # latent frames per training clip (T = 1 + 4·(F − 1))
    vae: TinyVAEConfig = TinyVAEConfig()  # the autoencoder
    text: WordTextConfig = WordTextConfig()  # vocab is filled from v2v.train.data.VOCAB
    dit: DiTConfig = DiTConfig()  # teacher, critic and student (causal flags set per stage)
    sampling: SamplingConfig = SamplingConfig()  # shift, student timesteps, frames_per_block
    seed: int = 0  # base seed of every stage
    ckpt_seconds: float = 60.0  # wall seconds between periodic checkpoints
    vae_steps: int = 7000  # VAE optimiser steps
    vae_batch: int = 8  # VAE clips per step
    vae_lr: float = 1e-3  # AdamW peak learning rate (warm-up, cosine to 0.1×)
    autoencoder: AutoencoderConfig = AutoencoderConfig()  # the vae stage's data and losses
    conditional: ConditionalConfig = ConditionalConfig()  # source-conditioned teacher, ode and dmd (off: as before)
    decoder_steps: int = 1000  # decoder fine-tune steps (encoder frozen, see decoder_stage.py)
    decoder_lr: float = 3e-4  # AdamW peak learning rate of the decoder fine-tune
    cache_scenes: int = 120  # scenes in the latent cache (each rendered in every style)
    teacher_steps: int = 15000  # teacher optimiser steps
    teacher_batch: int = 4  # latent clips per step (half that on full-frame steps)
    teacher_lr: float = 3e-4  # AdamW peak learning rate (warm-up, cosine to 0.1×)
    caption_dropout: float = 0.1  # probability of an empty prompt (for CFG)
    caption_short: float = 0.5  # probability of a style-only prompt (data.short_caption), every stage
    guidance: float = 3.5  # CFG scale of the teacher (ODE pairs and DMD real score)
    ode_pairs: int = 256  # teacher trajectories (clips) for the ODE stage
    ode_euler_steps: int = 12  # Euler steps of the teacher's ODE solve
    ode_steps: int = 3000  # student regression steps
    ode_batch: int = 4  # pairs per step (and as many paired cross-style clips)
    ode_lr: float = 2e-4  # AdamW learning rate of the student regression
    ode_supervised: float = 1.0  # weight of the paired cross-style term (see ode.py)
    dmd_steps: int = 2800  # critic steps (the generator steps every dmd_gen_every)
    dmd_batch: int = 2  # generator rollouts per step
    dmd_gen_every: int = 5  # generator update every this many critic updates
    gen_lr: float = 3e-5  # AdamW learning rate of the generator (student)
    critic_lr: float = 1e-4  # AdamW learning rate of the critic (fake score)
    dmd_rollout: str = "parallel"  # generator rollout: "parallel" (CausVid) or "self_forcing"
    dmd_paired: float = 0.25  # weight of the paired cross-style term on generator steps
    dmd_self_forcing_from: int = 1500  # a "parallel" run switches to the self-forcing rollout here
    dmd_paired_self_forcing: float = 0.5  # dmd_paired from that step on (see dmd.phase)
    dmd_guidance: float | None = None  # CFG scale of the DMD real score (None: `guidance`, as the ODE pairs)
    dmd_rollout_paired: float = 1.0  # weight of the ground-truth term on the generator's own v2v rollouts
    dmd_rollout_paired_from: int = 2176  # ... from this critic step on (see dmd.phase)
    dmd_critic_warmup: int = 100  # critic-only steps when a run resumes without a critic (`train seed`)
    dmd_ema: float = 0.99  # EMA decay of the generator per generator step (export uses it)
    adapt_clips: int = 600  # student rollouts (17 frames each) the `adapt` stage records
    adapt_steps: int = 1000  # decoder fine-tune steps on the student's latents
    adapt_batch: int = 4  # rollout crops per step (and as many ground-truth round-trip clips)
    adapt_lr: float = 3e-4  # AdamW peak learning rate of the `adapt` stage
    adapt_temporal: float = 7.5  # weight of the frame-to-frame term on the rollouts (decoder stage: 6)
    adapt_round_trip: float = 1.0  # weight of the ground-truth round-trip term beside the rollouts
    grad_clip: float = 1.0  # gradient-norm clipping of every optimiser

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> TrainConfig:
        """The configuration a run.json holds (`to_json`'s dict). Keys that name no field are ignored, so a
        run.json written with settings this version does not have still loads; missing fields take their
        defaults."""
        sub = {
            "vae": TinyVAEConfig,
            "text": WordTextConfig,
            "dit": DiTConfig,
            "sampling": SamplingConfig,
            "autoencoder": AutoencoderConfig,
            "conditional": ConditionalConfig,
        }
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(TrainConfig):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name in sub:
                v = config_from_dict(sub[f.name], v, strict=False)
            elif isinstance(v, list):
                v = tuple(v)
            kw[f.name] = v
        return TrainConfig(**kw)


def default_config(vocab: tuple[str, ...]) -> TrainConfig:
    """The shipped default model: 256×256, TinyVAE z16, text dim 128, DiT dim 192 × 6 layers."""
    text = WordTextConfig(vocab=vocab, text_len=16, dim=128, num_layers=2, num_heads=4, ffn_dim=256)
    dit = DiTConfig(
        dim=192,
        ffn_dim=768,
        freq_dim=128,
        text_dim=text.dim,
        in_dim=16,
        out_dim=16,
        num_heads=3,
        num_layers=6,
        text_len=16,
        eps=1e-6,
    )
    sampling = SamplingConfig(shift=5.0, timesteps=(1000.0, 750.0, 500.0, 250.0), frames_per_block=1)
    return TrainConfig(text=text, dit=dit, sampling=sampling)


def tiny_config(vocab: tuple[str, ...]) -> TrainConfig:
    """A seconds-long run for tests: 32×32 pixels, 2 latent frames, a few steps per stage."""
    text = WordTextConfig(vocab=vocab, text_len=8, dim=16, num_layers=1, num_heads=2, ffn_dim=32)
    dit = presets.tiny(text_dim=16)
    vae = TinyVAEConfig(z_dim=4, enc_dims=(8, 8, 8), dec_dims=(8, 8, 8), group_dim=8)
    sampling = SamplingConfig(shift=5.0, timesteps=(1000.0, 500.0), frames_per_block=1)
    return TrainConfig(
        size=(32, 32),
        vae_size=(32, 32),
        latent_frames=2,
        vae=vae,
        text=text,
        dit=dit,
        sampling=sampling,
        vae_steps=3,
        vae_batch=1,
        decoder_steps=2,
        cache_scenes=2,
        teacher_steps=3,
        teacher_batch=2,
        ode_pairs=2,
        ode_euler_steps=3,
        ode_steps=3,
        ode_batch=2,
        dmd_steps=4,
        dmd_batch=1,
        dmd_gen_every=2,
        dmd_self_forcing_from=2,
        dmd_rollout_paired_from=3,
        dmd_critic_warmup=1,
        adapt_clips=2,
        adapt_steps=2,
        adapt_batch=1,
        ckpt_seconds=3600.0,
    )


PRESETS = {"default": default_config, "tiny": tiny_config}


def pixel_frames(latent_frames: int) -> int:
    return 1 + 4 * (latent_frames - 1)


# -- work directory, run config, logging ------------------------------------------------------------


def load_run_config(workdir: Path, preset: str, overrides: dict[str, Any]) -> TrainConfig:
    """The run's configuration: run.json if it exists (overrides applied on top), else the preset."""
    from v2v.train import data

    path = workdir / "run.json"
    if path.exists():
        config = TrainConfig.from_json(json.loads(path.read_text()))
    else:
        config = PRESETS[preset](tuple(data.VOCAB))
    if overrides:
        config = dataclasses.replace(config, **overrides)
    workdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(config.to_json(), indent=1))
    return config


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class StageBusy(RuntimeError):
    """Another process is running this stage in this work directory."""


@contextmanager
def stage_lock(workdir: Path, stage: str) -> Iterator[None]:
    """Hold WORKDIR/STAGE/.lock (an exclusive flock, released when the process ends however it ends) while
    a stage runs: two processes training one stage would write the same checkpoint in turn. Where the
    platform has no flock (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    (workdir / stage).mkdir(parents=True, exist_ok=True)
    with open(workdir / stage / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise StageBusy(
                f"stage '{stage}' is already running in {workdir} (pid {pid}): wait for it, or stop it "
                f"with `kill -TERM {pid}` (it saves a checkpoint) and run this again"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def stage_logger(workdir: Path, stage: str) -> logging.Logger:
    """A logger writing to WORKDIR/STAGE/log.txt (appending, so resumed runs keep their history)."""
    (workdir / stage).mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"v2v.train.{stage}.{workdir.resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        h = logging.FileHandler(workdir / stage / "log.txt")
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(h)
    return log


# stage -> the TrainConfig fields of its (steps, batch, learning rate); `--steps/--batch/--lr` set them
STAGE_FIELDS = {
    "vae": ("vae_steps", "vae_batch", "vae_lr"),
    "decoder": ("decoder_steps", "vae_batch", "decoder_lr"),
    "teacher": ("teacher_steps", "teacher_batch", "teacher_lr"),
    "ode": ("ode_steps", "ode_batch", "ode_lr"),
    "dmd": ("dmd_steps", "dmd_batch", "gen_lr"),
    "adapt": ("adapt_steps", "adapt_batch", "adapt_lr"),
}


def stage_steps(config: TrainConfig, stage: str) -> int:
    """The step count at which `stage` is finished in this configuration."""
    return getattr(config, STAGE_FIELDS[stage][0])


# -- checkpoints ----------------------------------------------------------------------------------------


def ckpt_path(workdir: Path, stage: str) -> Path:
    return workdir / stage / "ckpt.pt"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, recursively, so checkpoints load with weights_only=True."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_ckpt(path: Path, state: Any) -> None:
    """Write atomically (a temp file, then rename), so a kill never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(_plain(state), tmp)
    os.replace(tmp, path)


# Checkpoints written before `_plain` existed hold numpy scalars: allow exactly those data types.
_NUMPY_SCALARS = [
    (getattr(np, "_core", None) or np.core).multiarray.scalar,
    np.dtype,
    *(type(np.dtype(t)) for t in ("f8", "f4", "i8", "i4")),
]


def load_ckpt(path: Path) -> Any:
    """A training checkpoint, read with torch.load(weights_only=True): it never runs code."""
    if not path.exists():
        return None
    with torch.serialization.safe_globals(_NUMPY_SCALARS):
        return torch.load(path, map_location="cpu", weights_only=True)


def resume(state: dict[str, Any] | None, parts: dict[str, Any]) -> tuple[int, Timer]:
    """Restore a stage from its checkpoint: each named module or optimiser gets `state[name]`; returns
    the step to continue from and the stage's timer (0 and a fresh timer when there is no checkpoint).
    A checkpoint written by `train seed` (it records `seeded_from`) holds weights only: the parts it lacks
    (optimisers, the DMD critic) keep their fresh state."""
    if state is None:
        return 0, Timer()
    for name, part in parts.items():
        if name not in state and "seeded_from" in state:
            continue
        part.load_state_dict(state[name])
    return state["step"], Timer(state["seconds"])


def require_ckpt(workdir: Path, stage: str) -> dict[str, Any]:
    state = load_ckpt(ckpt_path(workdir, stage))
    if state is None:
        raise FileNotFoundError(
            f"stage '{stage}' has no checkpoint in {workdir}: run "
            f"`python -m v2v train {stage} --workdir {workdir}` first"
        )
    return state


class Loop:
    """A resumable step loop with a tqdm bar, periodic checkpoints and a clean stop on Ctrl-C/SIGTERM.

        with Loop(...) as loop:
            for step in loop:       # the step numbers still to run
                ...
                loop.log(step, loss=...)

    `save` is a callable returning the checkpoint dict (it must include `loop.step`, the number of
    finished steps). Leaving the `with` block saves a checkpoint, also when interrupted."""

    def __init__(
        self, name: str, start: int, total: int, ckpt: Path, save: Any, log: logging.Logger, every_seconds: float
    ) -> None:
        self.name, self.start, self.total, self.ckpt, self.save = name, start, total, ckpt, save
        self.logger, self.every = log, every_seconds
        self.step = start
        self.stats: dict[str, float] = {}
        self.bar: tqdm | None = None
        self._previous: Any = None

    def __enter__(self) -> Loop:
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        self.bar = tqdm(total=self.total, initial=self.start, desc=self.name, dynamic_ncols=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if self.bar is not None:
            self.bar.close()
        signal.signal(signal.SIGTERM, self._previous)
        if kind is None or issubclass(kind, KeyboardInterrupt):
            save_ckpt(self.ckpt, self.save())
            self.logger.info(
                f"finished at step {self.step}"
                if kind is None
                else f"interrupted at step {self.step}; checkpoint saved"
            )
        return False

    def __iter__(self) -> Iterator[int]:
        last = time.monotonic()
        for step in range(self.start, self.total):
            yield step
            self.step = step + 1
            if self.bar is not None:
                self.bar.update(1)
            if time.monotonic() - last > self.every:
                save_ckpt(self.ckpt, self.save())
                last = time.monotonic()

    def log(self, step: int, every: int = 10, /, **losses: float) -> None:
        """Smooth and show `losses`; write them to the log every `every` steps (positional only, so that any
        name can be a loss)."""
        for k, v in losses.items():
            self.stats[k] = 0.9 * self.stats.get(k, v) + 0.1 * v
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in self.stats.items()}, refresh=False)
        if step % every == 0 or step + 1 == self.total:
            self.logger.info(f"step {step} " + " ".join(f"{k} {v:.5f}" for k, v in self.stats.items()))


def warmup_cosine(peak: float, step: int, total: int, warmup: int) -> float:
    """Learning rate at `step`: linear warm-up over `warmup` steps, then a cosine from `peak` to 0.1·peak."""
    return peak * min(1.0, (step + 1) / warmup) * (0.55 + 0.45 * float(np.cos(np.pi * step / total)))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- device --------------------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """The device a stage trains on: "auto" (CUDA when this machine has it, else the CPU), "cpu", "cuda"
    or "cuda:N". Raises ValueError saying what to do when the device is not usable here."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {name}: this torch build sees no CUDA GPU (torch {torch.__version__}); "
                f"use --device cpu, or install a CUDA build of torch"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: training runs on cpu or cuda")
    return device


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Gaussian noise from a CPU generator, moved to `device`: a seeded run draws the same numbers on
    every device (a CUDA generator would draw others)."""
    return torch.randn(tuple(shape), generator=generator).to(device)


def draw_seed(seed: int, stream: str, index: int) -> int:
    """The seed of one random stream of a run: draw `index` (a step, a clip) of `stream` (a stage's name,
    or a name for a second stream inside a stage) of a run seeded `seed`. Hashed, so no two (seed, stream,
    index) share draws: a run with `--seed 1` is not the run of seed 0 shifted by a step, and no stage
    repeats another stage's draws (a sum such as seed + 500 + step did both)."""
    tag = int.from_bytes(stream.encode(), "little")
    words = np.random.SeedSequence([seed, tag, index]).generate_state(2, np.uint32)
    return int(words[0]) << 31 | int(words[1]) >> 1  # 63 bits: under 2**63, a valid torch seed


def module_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


# -- models ------------------------------------------------------------------------------------------


def build_vae(config: TrainConfig, state: dict[str, Any] | None = None) -> TinyVAE:
    vae_config = config.vae
    if state is not None and "vae_config" in state:
        vae_config = config_from_dict(TinyVAEConfig, state["vae_config"], strict=False)
    vae = TinyVAE(vae_config)
    if state is not None:
        vae.load_state_dict(state["vae"])
    return vae


def build_dit(config: TrainConfig, causal: bool) -> DiT:
    """A DiT of the run: the teacher and critic (causal False) or the student (True). With the conditional
    recipe on, it sees the clean source latents beside x (source_channels = the VAE's z_dim)."""
    source = config.vae.z_dim if config.conditional.source else config.dit.source_channels
    dit_config = dataclasses.replace(
        config.dit, causal=causal, frames_per_block=config.sampling.frames_per_block, source_channels=source
    )
    return DiT(dit_config)


def build_text(config: TrainConfig) -> WordPromptEncoder:
    return WordPromptEncoder(config.text)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model, parameter by parameter."""
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm, 1.0 - decay)


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def frozen(module: ModuleT) -> ModuleT:
    """`module` in eval mode with every parameter's requires_grad off (the same object)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# -- procedural data -----------------------------------------------------------------------------------


def render_video(scene: Scene, style: str, frames: int, size: tuple[int, int], start: int = 0) -> Tensor:
    """One clip from v2v.train.data as float [3, T, H, W] in [-1, 1]."""
    from v2v.train import data

    clip = data.render_clip(scene, style, frames, size=size, start=start)  # [T, H, W, 3] uint8
    return to_float(clip).transpose(0, 1)  # [3, T, H, W]


def fresh_scene_seed(rng: np.random.Generator) -> int:
    """A training scene seed (held-out seeds are >= 1_000_000)."""
    return int(rng.integers(0, 1_000_000))


@dataclass
class Timer:
    """Accumulated wall time of a stage, kept in its checkpoint."""

    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def total(self) -> float:
        return self.seconds + time.monotonic() - self.started
