"""The teacher in the report (`python -m v2v train report`, section 5): load the bidirectional many-step
teacher that goes with a bundle, restyle a clip with it by SDEdit, and compare it with the student on the
same clips and frames. Videos are uint8 [T, H, W, 3] RGB; this module formats no text.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from v2v.metrics import as_uint8_video, psnr, ssim
from v2v.models.bundle import ModelBundle
from v2v.models.dit import DiT
from v2v.models.protocols import PromptEncoder
from v2v.pixels import to_float
from v2v.sampling import add_noise, euler_sample, strength_to_timestep
from v2v.train.classifier import StyleClassifier
from v2v.train.data import style_prompt
from v2v.train.report_sections import PairsResult, Video, measure_pairs, restyle, style_accuracy
from v2v.train.teacher import cfg_flow

if TYPE_CHECKING:
    from v2v.train.report import ReportSettings


class TeacherUnavailable(Exception):
    """No usable teacher: the message says why, in a sentence fit for the report."""


@dataclass
class Teacher:
    dit: DiT  # bidirectional DiT (causal=False)
    text: PromptEncoder  # its prompt encoder
    guidance: float  # classifier-free guidance scale
    source: str  # where it came from, for the report


def load_teacher(path: Path, bundle: ModelBundle) -> Teacher:
    """A teacher from a training checkpoint (WORKDIR/teacher/*.pt: the EMA of DiT + prompt encoder, config
    from WORKDIR/run.json) or a safetensors file (keys "dit.*" [+ "text.*"], or bare DiT keys; an optional
    sidecar .json may give "dit" and "text" configs and "guidance"; otherwise the bundle's DiT config with
    causal=False, the bundle's prompt encoder and the training default guidance)."""
    from v2v.models.dit import DiT, DiTConfig
    from v2v.models.loading import config_from_dict
    from v2v.models.word_text import WordPromptEncoder, WordTextConfig
    from v2v.train.common import TrainConfig, build_dit, build_text, load_ckpt

    if not path.exists():
        raise TeacherUnavailable(f"no teacher checkpoint at `{path}`")
    text: PromptEncoder
    if path.suffix == ".pt":
        run_json = path.parent.parent / "run.json"
        if not run_json.exists():
            raise TeacherUnavailable(f"`{path}` has no run configuration beside it ({run_json} is missing)")
        config = TrainConfig.from_json(json.loads(run_json.read_text()))
        state = load_ckpt(path)
        key = "ema" if "ema" in state else "model"
        dit, text = build_dit(config, causal=False), build_text(config)
        _load(dit, {k[4:]: v for k, v in state[key].items() if k.startswith("dit.")}, path)
        _load(text, {k[5:]: v for k, v in state[key].items() if k.startswith("text.")}, path)
        source = f"`{path}` ({key.upper()} weights, step {state.get('step', '?')} of {config.teacher_steps})"
        guidance = config.guidance
    else:
        from safetensors.torch import load_file

        state = load_file(str(path))
        side = path.with_suffix(".json")
        meta = json.loads(side.read_text()) if side.exists() else {}
        dit_cfg = (
            config_from_dict(DiTConfig, meta["dit"], strict=False)
            if "dit" in meta
            else dataclasses.replace(bundle.dit.config, causal=False)
        )
        dit = DiT(dataclasses.replace(dit_cfg, causal=False))
        prefixed = any(k.startswith("dit.") for k in state)
        _load(dit, {k[4:]: v for k, v in state.items() if k.startswith("dit.")} if prefixed else state, path)
        text = bundle.text
        if any(k.startswith("text.") for k in state):
            if "text" in meta:
                text_config = config_from_dict(WordTextConfig, meta["text"], strict=False)
            elif isinstance(bundle.text, WordPromptEncoder):
                text_config = bundle.text.config
            else:
                raise TeacherUnavailable(f'`{path}` holds a prompt encoder but no "text" config in `{side}`')
            word = WordPromptEncoder(text_config)
            _load(word, {k[5:]: v for k, v in state.items() if k.startswith("text.")}, path)
            text = word
        guidance = float(meta.get("guidance", TrainConfig().guidance))
        source = f"`{path}`"
    if dit.config.in_dim != bundle.vae.z_dim:
        raise TeacherUnavailable(
            f"the teacher at `{path}` takes {dit.config.in_dim} latent channels but this "
            f"model's VAE makes {bundle.vae.z_dim}: it is not this model's teacher"
        )
    for m in (dit, text):
        if isinstance(m, torch.nn.Module):
            m.to(bundle.device, bundle.dtype).eval().requires_grad_(False)
    return Teacher(dit, text, guidance, source)


def _load(module: torch.nn.Module, state: dict[str, Tensor], path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise TeacherUnavailable(f"`{path}` does not fit the teacher architecture ({first})") from None


def euler_grid(steps: int, t_start: float, shift: float) -> int:
    """Size of the shifted grid that puts about `steps` points below t_start."""
    tau = t_start / 1000.0
    frac = tau / (shift - (shift - 1.0) * tau)  # the unshifted σ whose shifted value is τ
    return max(steps, math.ceil(steps / max(frac, 1e-3)))


@dataclass
class TeacherRun:
    output: Video  # the first 1 + 4k frames of the clip, restyled
    seconds: float
    evaluations: int  # model calls (each a CFG pair)


def teacher_sdedit(
    teacher: Teacher, bundle: ModelBundle, clip: Video, prompt: str, strength: float, steps: int, seed: int
) -> TeacherRun:
    """SDEdit with the bidirectional teacher (Meng et al. 2022): the whole clip's latents noised to the
    strength (σ = s, told t = 1000·s − offset as the engine does), then an Euler solve of the flow ODE
    with classifier-free guidance (`teacher.cfg_flow`: the empty prompt is the unconditional branch; a
    source-conditioned teacher is told the clip's clean latents in both), then decode."""
    tf = bundle.vae.temporal_factor
    T = 1 + tf * ((len(clip) - 1) // tf)
    video = to_float(clip[:T]).transpose(0, 1)[None].to(bundle.device, bundle.dtype)  # [1, 3, T, H, W]
    with torch.inference_mode():
        t0 = time.perf_counter()
        z = bundle.vae.encode(video)  # [1, C, F, h, w]
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed)).to(z)
        x = add_noise(z, noise, strength)
        t_start = strength_to_timestep(strength, bundle.sampling.v2v_offset)
        cond, uncond = teacher.text.encode([prompt]).to(z), teacher.text.encode([""]).to(z)
        source = z if teacher.dit.config.source_channels else None  # a source-conditioned teacher sees the clip
        flow = cfg_flow(teacher.dit, cond, teacher.guidance, source=source, uncond=uncond)
        calls = 0

        def guided(x_t: Tensor, t: Tensor) -> Tensor:
            nonlocal calls
            calls += 1
            return flow(x_t, t)

        shift = bundle.sampling.shift
        x0, _ = euler_sample(guided, x, euler_grid(steps, t_start, shift), shift, t_start=t_start)
        out = bundle.vae.decode(x0)[0].transpose(0, 1)  # [T, 3, H, W]
        seconds = time.perf_counter() - t0
    return TeacherRun(as_uint8_video(out.float().cpu()), seconds, calls)


# ---- the teacher against the student ---------------------------------------------------------------


@dataclass
class TeacherComparison:
    note: str  # where the teacher came from, or why there is none
    available: bool = False
    guidance: float = 0.0
    evaluations: int = 0  # guided model calls per clip
    scenes: list[int] | None = None
    teacher_psnr: float = 0.0
    teacher_ssim: float = 0.0
    teacher_acc: float = 0.0
    teacher_pairs: float = 0.0
    teacher_ms: float = 0.0  # wall ms per frame
    student_psnr: float = 0.0
    student_ssim: float = 0.0
    student_acc: float = 0.0
    student_pairs: float = 0.0
    student_ms: float = 0.0
    frames: int = 0  # frames per clip compared


def run_teacher(
    path: Path | None,
    bundle: ModelBundle,
    clips: dict[int, dict[str, Video]],
    seeds: list[int],
    s: ReportSettings,
    strength: float,
    judge: StyleClassifier,
    pairs: PairsResult | None,
) -> TeacherComparison:
    """SDEdit with the teacher on the first scenes of section 1 and on every style pair of the first scenes of
    section 2; the student's numbers on exactly the same clips and frames beside it."""
    if path is None:
        return TeacherComparison(
            "no teacher checkpoint was found (looked for MODEL/teacher.safetensors and, for "
            "the default model, runs/default/teacher/*.pt); pass --teacher PATH"
        )
    try:
        teacher = load_teacher(path, bundle)
    except TeacherUnavailable as e:
        return TeacherComparison(f"the teacher could not be used: {e}")
    scene_seeds = seeds[: min(s.teacher_scenes, s.scenes)]
    runs, student = [], []
    for k in tqdm(scene_seeds, desc="teacher blocky -> realistic", leave=False):
        r = teacher_sdedit(teacher, bundle, clips[k]["blocky"], style_prompt("realistic"), strength, s.teacher_steps, k)
        runs.append(r)
        student.append(restyle(bundle, clips[k]["blocky"], style_prompt("realistic"), strength, k))
    T = len(runs[0].output)
    gts = [clips[k]["realistic"][:T] for k in scene_seeds]

    def teacher_clip(clip: Video, prompt: str, seed: int) -> Video:
        return teacher_sdedit(teacher, bundle, clip, prompt, strength, s.teacher_steps, seed).output

    pair_seeds = seeds[: min(s.teacher_pair_scenes, s.pair_scenes)]
    pair_clips = {k: {st: c[:T] for st, c in clips[k].items()} for k in pair_seeds}
    tp = measure_pairs(teacher_clip, pair_clips, judge, desc="teacher style pairs")
    if pairs is not None and s.frames == T:  # the same clips as section 2: reuse the student's calls
        student_pairs = float(np.mean([pairs.per_scene[(a, b, k)] for a, b in tp.accuracy for k in pair_clips]))
    else:
        student_pairs = measure_pairs(
            lambda c, p, k: restyle(bundle, c, p, strength, k).output, pair_clips, judge, desc="student style pairs"
        ).overall
    mean = lambda xs: float(np.mean(xs))  # noqa: E731
    return TeacherComparison(
        note=teacher.source,
        available=True,
        guidance=teacher.guidance,
        evaluations=runs[0].evaluations,
        scenes=scene_seeds,
        frames=T,
        teacher_psnr=mean([psnr(r.output, g) for r, g in zip(runs, gts, strict=True)]),
        teacher_ssim=mean([ssim(r.output, g) for r, g in zip(runs, gts, strict=True)]),
        teacher_acc=mean([style_accuracy(r.output, "realistic", judge) for r in runs]),
        teacher_pairs=tp.overall,
        teacher_ms=1000 * mean([r.seconds / T for r in runs]),
        student_psnr=mean([psnr(r.output[:T], g) for r, g in zip(student, gts, strict=True)]),
        student_ssim=mean([ssim(r.output[:T], g) for r, g in zip(student, gts, strict=True)]),
        student_acc=mean([style_accuracy(r.output[:T], "realistic", judge) for r in student]),
        student_pairs=student_pairs,
        student_ms=1000 * mean([r.seconds / len(r.output) for r in student]),
    )
