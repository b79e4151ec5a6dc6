"""The measurements behind `python -m v2v train report` (report.py writes them up).

Every function renders held-out procedural scenes (data.heldout_seeds), restyles them and returns
plain numbers in small dataclasses; nothing here formats text. Videos are uint8 [T, H, W, 3] RGB
(the layout of v2v.train.data and v2v.metrics); the engine gets float [T, 3, H, W] in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from v2v.engine import ChunkMetrics, EngineConfig, StreamEngine
from v2v.metrics import (
    as_uint8_video,
    flicker,
    frame_stats,
    pooled_warp,
    psnr,
    psnr_colour_matched,
    ssim,
    warp_error,
    warp_terms,
)
from v2v.models.bundle import ModelBundle
from v2v.models.dit import DiT
from v2v.models.protocols import PromptEncoder
from v2v.sampling import add_noise, euler_sample, strength_to_timestep
from v2v.train.classifier import StyleClassifier, classify
from v2v.train.data import STYLES, render_styles, sample_scene, style_prompt, to_model_video
from v2v.train.teacher import cfg_flow

Video = np.ndarray  # uint8 [T, H, W, 3] RGB


def engine_frames(clip: Video) -> Tensor:
    """uint8 [T, H, W, 3] -> float [T, 3, H, W] in [-1, 1], the engine's input."""
    return to_model_video(clip).transpose(0, 1)  # [T, 3, H, W]


def render_scenes(
    seeds: list[int], frames: int, size: tuple[int, int], styles: tuple[str, ...] = STYLES
) -> dict[int, dict[str, Video]]:
    """{seed: {style: clip}}: every style of each held-out scene, frames 0..frames-1 at size (W, H)."""
    return {
        s: render_styles(sample_scene(s), styles, frames, size) for s in tqdm(seeds, desc="render scenes", leave=False)
    }


@dataclass
class Restyled:
    """One clip through the student engine."""

    output: Video
    seconds: float  # wall time of push + flush (encode, denoise, cache, decode)
    chunks: list[ChunkMetrics]


def restyle(bundle: ModelBundle, clip: Video, prompt: str, strength: float, seed: int) -> Restyled:
    """Push a whole clip through a fresh StreamEngine and flush it; one output frame per input frame."""
    engine = StreamEngine(bundle, EngineConfig(prompt=prompt, strength=strength, seed=seed))
    frames = engine_frames(clip)
    t0 = time.perf_counter()
    out = [engine.push(frames)]
    chunks = list(engine.metrics)
    out.append(engine.flush())
    chunks += engine.metrics
    seconds = time.perf_counter() - t0
    video = as_uint8_video(torch.cat([o for o in out if o.numel()]).float().cpu())  # [T, H, W, 3]
    assert video.shape == clip.shape, f"engine gave {video.shape} for an input of {clip.shape}"
    return Restyled(video, seconds, chunks)


def style_accuracy(frames: Video, style: str, judge: StyleClassifier) -> float:
    """Fraction of frames the classifier calls `style`."""
    calls = classify(frames, judge)
    return sum(c == style for c in calls) / len(calls)


# ---- 1 + 3: blocky -> realistic, structure and temporal consistency --------------------------------


@dataclass
class SceneScore:
    seed: int
    psnr_out: float  # output vs ground truth, dB
    psnr_in: float  # input vs ground truth, dB
    ssim_out: float
    ssim_in: float
    accuracy: float  # fraction of output frames called "realistic"
    warp_out: float  # warp_error of the output
    warp_gt: float  # warp_error of the ground-truth render
    flicker_out: float  # flicker(output, input)
    flicker_gt: float  # flicker(ground truth, input)
    seconds_per_frame: float  # student wall time per frame
    warp_boundary: float = 0.0  # mean warp error of the output's transitions from one chunk to the next
    warp_inside: float = 0.0  # the same inside chunks
    warp_gt_step: float = 0.0  # the ground truth's mean warp error per transition
    sharpness_vs_gt: float = 0.0  # frame_stats sharpness of the output over the ground truth's
    psnr_colour: float = 0.0  # output vs ground truth after the output's clip mean colour is moved to the truth's, dB


def warp_by_transition(
    out_terms: list[tuple[float, int]], gt_terms: list[tuple[float, int]], chunks: list[ChunkMetrics]
) -> tuple[float, float, float]:
    """From `warp_terms` of the output and of the ground truth: (output warp error per transition across
    chunk boundaries, inside chunks, the ground truth's per transition): where the output's temporal
    inconsistency sits."""
    starts, i = set(), 0
    for m in chunks:
        if m.frames_out:
            starts.add(i)
            i += m.frames_out
    per = lambda terms: [total / max(count, 1) for total, count in terms]  # noqa: E731  transition t-1 -> t
    out = per(out_terms)
    boundary = [e for t, e in enumerate(out, start=1) if t in starts] or [0.0]
    inside = [e for t, e in enumerate(out, start=1) if t not in starts] or [0.0]
    return float(np.mean(boundary)), float(np.mean(inside)), float(np.mean(per(gt_terms) or [0.0]))


@dataclass
class RestyleResult:
    scenes: list[SceneScore]
    timesteps: tuple[float, ...]  # the timesteps the first chunk ran
    mean_strength: float  # mean strength after motion adaptation over all chunks
    examples: dict[int, Restyled] = field(default_factory=dict)  # seed -> restyled clip (for the sheet)

    def mean(self, name: str) -> float:
        return float(np.mean([getattr(s, name) for s in self.scenes]))


def measure_restyle(
    bundle: ModelBundle,
    clips: dict[int, dict[str, Video]],
    strength: float,
    judge: StyleClassifier,
    source: str = "blocky",
    target: str = "realistic",
) -> RestyleResult:
    scores, examples, strengths = [], {}, []
    timesteps: tuple[float, ...] = ()
    for seed, styles in tqdm(clips.items(), desc=f"{source} -> {target}", leave=False):
        inp, gt = styles[source], styles[target]
        r = restyle(bundle, inp, style_prompt(target), strength, seed)
        examples[seed] = r
        out_terms, gt_terms = warp_terms(r.output), warp_terms(gt)  # one optical-flow pass each
        strengths += [m.strength for m in r.chunks if not m.skipped]
        timesteps = timesteps or r.chunks[0].timesteps
        scores.append(
            SceneScore(
                seed=seed,
                psnr_out=psnr(r.output, gt),
                psnr_in=psnr(inp, gt),
                psnr_colour=psnr_colour_matched(r.output, gt),
                ssim_out=ssim(r.output, gt),
                ssim_in=ssim(inp, gt),
                accuracy=style_accuracy(r.output, target, judge),
                warp_out=pooled_warp(out_terms),
                warp_gt=pooled_warp(gt_terms),
                flicker_out=flicker(r.output, inp),
                flicker_gt=flicker(gt, inp),
                seconds_per_frame=r.seconds / len(inp),
                sharpness_vs_gt=frame_stats(r.output)["sharpness"] / max(frame_stats(gt)["sharpness"], 1e-8),
                **dict(
                    zip(
                        ("warp_boundary", "warp_inside", "warp_gt_step"),
                        warp_by_transition(out_terms, gt_terms, r.chunks),
                        strict=True,
                    )
                ),
            )
        )
    return RestyleResult(scores, timesteps, float(np.mean(strengths)), examples)


# ---- 2: style accuracy over all pairs ---------------------------------------------------------------


@dataclass
class PairsResult:
    accuracy: dict[tuple[str, str], float]  # (source, target) -> fraction of output frames called target
    per_scene: dict[tuple[str, str, int], float]  # (source, target, seed) -> fraction
    judge_on_truth: dict[str, float]  # the classifier on the ground-truth renders of these scenes, per style
    frames: int  # output frames judged in all
    examples: dict[tuple[str, str], tuple[Video, Video, Video]] = field(default_factory=dict)  # (in, out, gt)

    @property
    def overall(self) -> float:
        return float(np.mean(list(self.accuracy.values())))


def style_pairs(styles: tuple[str, ...] = STYLES) -> list[tuple[str, str]]:
    """Every (source, target) pair of `styles` (the judge's: judge.cfg.styles), source != target."""
    return [(a, b) for a in styles for b in styles if a != b]


def measure_pairs(
    run_clip: Any,
    clips: dict[int, dict[str, Video]],
    judge: StyleClassifier,
    keep: tuple[tuple[str, str], ...] = (),
    desc: str = "style pairs",
) -> PairsResult:
    """run_clip(clip, prompt, seed) -> output clip; every (source, target) pair on every scene."""
    per_scene, examples, frames = {}, {}, 0
    rendered = next(iter(clips.values()))
    styles = tuple(st for st in judge.cfg.styles if st in rendered)  # the styles the judge names and the clips hold
    jobs = [(a, b, seed) for a, b in style_pairs(styles) for seed in clips]
    for a, b, seed in tqdm(jobs, desc=desc, leave=False):
        out = run_clip(clips[seed][a], style_prompt(b), seed)
        per_scene[(a, b, seed)] = style_accuracy(out, b, judge)
        frames += len(out)
        if (a, b) in keep and (a, b) not in examples:
            examples[(a, b)] = (clips[seed][a], out, clips[seed][b])
    accuracy = {(a, b): float(np.mean([per_scene[(a, b, s)] for s in clips])) for a, b in style_pairs(styles)}
    truth = {st: float(np.mean([style_accuracy(c[st], st, judge) for c in clips.values()])) for st in styles}
    return PairsResult(accuracy, per_scene, truth, frames, examples)


# ---- the autoencoder alone: what any DiT output is held to ----------------------------------------------


@dataclass
class AutoencoderCeiling:
    """Ground-truth clips encoded and decoded by the model's VAE, no DiT: the best output the decoder can
    give. Its judge calls bound section 2 from above, its warp error bounds section 3 from below."""

    judged: dict[str, float]  # style -> fraction of round-trip frames the judge calls that style
    psnr: dict[str, float]  # style -> round-trip PSNR against the render (dB)
    warp: float  # mean warp error of the round trip of the section-1 ground truth (`target` style); the
    # ground truth's own warp error is section 1's SceneScore.warp_gt (the same clips)
    target: str


def round_trip(bundle: ModelBundle, clip: Video) -> Video:
    """uint8 [T, H, W, 3] (T = 1 + 4k) -> the same clip through bundle.vae.encode / decode."""
    x = engine_frames(clip).transpose(0, 1).unsqueeze(0).to(bundle.device, bundle.dtype)  # [1, 3, T, H, W]
    with torch.inference_mode():
        video = bundle.vae.decode(bundle.vae.encode(x))  # [1, 3, T, H, W]
    return as_uint8_video(video.squeeze(0).transpose(0, 1).float().cpu())  # [T, H, W, 3]


def measure_autoencoder(
    bundle: ModelBundle, clips: dict[int, dict[str, Video]], judge: StyleClassifier, target: str = "realistic"
) -> AutoencoderCeiling:
    rendered = next(iter(clips.values()))
    styles = tuple(st for st in judge.cfg.styles if st in rendered)
    judged: dict[str, list[float]] = {st: [] for st in styles}
    quality: dict[str, list[float]] = {st: [] for st in styles}
    warp = []
    for styles in tqdm(clips.values(), desc="autoencoder round trip", leave=False):
        for st in styles:
            rt = round_trip(bundle, styles[st])
            judged[st].append(style_accuracy(rt, st, judge))
            quality[st].append(psnr(rt, styles[st]))
            if st == target:
                warp.append(warp_error(rt))
    mean = lambda xs: float(np.mean(xs))  # noqa: E731
    return AutoencoderCeiling(
        {k: mean(v) for k, v in judged.items()}, {k: mean(v) for k, v in quality.items()}, mean(warp), target
    )


# ---- 4: drift over a long stream ----------------------------------------------------------------------


@dataclass
class DriftResult:
    seed: int  # the held-out scene
    frames: int
    window: int
    first: dict[str, float]  # metrics over the first window
    last: dict[str, float]  # metrics over the last window
    cache_bytes_start: int  # KV cache bytes after the first chunk
    cache_bytes_end: int  # KV cache bytes after the last full chunk
    cache_frames_written: int
    cache_rebases: int
    ms_per_frame_first: float  # engine compute per frame over the chunks of the first window
    ms_per_frame_last: float
    seconds: float
    fresh_last: dict[str, float] = field(default_factory=dict)  # the last window's input through a fresh engine
    path: str = "pingpong"  # the camera path through the scene ("pingpong" or "forward", see measure_drift)


def stream_scene_frame(i: int, frames: int, path: str) -> int:
    """The scene frame shown at stream position i: "forward" plays frames 0..frames−1; "pingpong" plays
    forward for the first half and back again, so the last window shows the first window's frames."""
    if path == "forward":
        return i
    if path != "pingpong":
        raise ValueError(f"unknown drift path {path!r}: pingpong or forward")
    return i if i < frames // 2 else frames - 1 - i


def _window_metrics(out: Video, gt: Video) -> dict[str, float]:
    o, g = frame_stats(out), frame_stats(gt)
    m = {"ssim_to_gt": ssim(out, gt), "psnr_to_gt": psnr(out, gt)}
    for k in o:
        m[k], m[f"gt_{k}"], m[f"{k}_vs_gt"] = o[k], g[k], o[k] / max(g[k], 1e-8)
    m["warp_error"], m["gt_warp_error"] = warp_error(out), warp_error(gt)
    m["warp_error_vs_gt"] = m["warp_error"] / max(m["gt_warp_error"], 1e-8)
    return m


def measure_drift(
    bundle: ModelBundle,
    seed: int,
    frames: int,
    window: int,
    strength: float,
    source: str = "blocky",
    target: str = "realistic",
    piece: int = 64,
    push: int = 16,
    path: str = "pingpong",
) -> DriftResult:
    """One long stream of held-out scene `seed`, rendered in pieces of `piece` frames (render_styles with
    start=k, so memory stays bounded) and pushed `push` frames at a time. Only the first and the last
    `window` input/output/ground-truth frames are kept. With path "pingpong" (the default) the camera
    goes out and comes back (`stream_scene_frame`): the last window holds the same content as the first,
    so a change between them is what the stream's history did, not what the scene did."""
    W = max(2, min(window, frames // 2))
    scene = sample_scene(seed)
    engine = StreamEngine(bundle, EngineConfig(prompt=style_prompt(target), strength=strength, seed=seed))
    keep: dict[str, list[np.ndarray]] = {"out_first": [], "out_last": [], "gt_first": [], "gt_last": [], "in_last": []}
    produced, bytes_start, chunk_log = 0, None, []  # chunk_log: (first output index, frames, ms)

    def collect(out: Tensor) -> None:
        nonlocal produced
        for f in as_uint8_video(out.float().cpu()) if out.numel() else ():
            if produced < W:
                keep["out_first"].append(f)
            if produced >= frames - W:
                keep["out_last"].append(f)
            produced += 1

    def log_chunks(first_index: int) -> None:
        i = first_index
        for m in engine.metrics:
            chunk_log.append((i, m.frames_out, m.total_ms))
            i += m.frames_out

    t0 = time.perf_counter()
    for k in tqdm(range(0, frames, piece), desc=f"drift stream ({frames} frames)", leave=False):
        n = min(piece, frames - k)
        shown = [stream_scene_frame(i, frames, path) for i in range(k, k + n)]
        lo = min(shown)
        rendered = render_styles(scene, (source, target), max(shown) - lo + 1, bundle.size, start=lo)
        r = {st: rendered[st][[f - lo for f in shown]] for st in (source, target)}  # [n, H, W, 3] each
        for j in range(n):
            if k + j < W:
                keep["gt_first"].append(r[target][j])
            if k + j >= frames - W:
                keep["gt_last"].append(r[target][j])
                keep["in_last"].append(r[source][j])
        x = engine_frames(r[source])
        bounds = [*range(0, n, push), n] if k else [0, *range(1, n, push), n]  # frame 0 alone: the first chunk
        for j, j_next in zip(bounds[:-1], bounds[1:], strict=True):
            before = produced
            collect(engine.push(x[j:j_next]))
            log_chunks(before)
            if bytes_start is None and engine.cache is not None:
                bytes_start = engine.cache.nbytes()
    cache = engine.cache
    assert cache is not None, "the drift stream ran no chunk"
    bytes_end, written, rebases = cache.nbytes(), cache.frames_written, cache.rebases
    before = produced
    collect(engine.flush())
    log_chunks(before)
    seconds = time.perf_counter() - t0
    assert produced == frames, f"the stream gave {produced} frames for {frames} inputs"

    def ms_per_frame(lo: int, hi: int) -> float:
        sel = [(n, ms) for i, n, ms in chunk_log if n and lo <= i < hi]
        return sum(ms for _, ms in sel) / max(sum(n for n, _ in sel), 1)

    stack = {k: np.stack(v) for k, v in keep.items()}
    # control: the same last input frames through a fresh engine, so that what the stream's history did
    # (drift) can be told apart from what the scene's content at the end does
    fresh = StreamEngine(bundle, EngineConfig(prompt=style_prompt(target), strength=strength, seed=seed))
    x = engine_frames(stack["in_last"])
    outs = [fresh.push(x[j : j + push]) for j in range(0, W, push)] + [fresh.flush()]
    fresh_out = as_uint8_video(torch.cat([o for o in outs if o.numel()]).float().cpu())  # [W, H, W, 3]
    return DriftResult(
        fresh_last=_window_metrics(fresh_out, stack["gt_last"]),
        seed=seed,
        frames=frames,
        window=W,
        first=_window_metrics(stack["out_first"], stack["gt_first"]),
        last=_window_metrics(stack["out_last"], stack["gt_last"]),
        cache_bytes_start=int(bytes_start or 0),
        cache_bytes_end=bytes_end,
        cache_frames_written=written,
        cache_rebases=rebases,
        ms_per_frame_first=ms_per_frame(0, W),
        ms_per_frame_last=ms_per_frame(frames - W, frames),
        seconds=seconds,
        path=path,
    )


# ---- 5: the teacher --------------------------------------------------------------------------------


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
    video = to_model_video(clip[:T])[None].to(bundle.device, bundle.dtype)  # [1, 3, T, H, W]
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


# ---- 6: speed ------------------------------------------------------------------------------------------


@dataclass
class SpeedResult:
    threads: int  # torch CPU threads during the measurement
    frames: int  # frames pushed, one at a time
    sustained_fps: float  # output frames per second after the first chunk
    first_frame_ms: float  # push of frame 0 into a fresh engine -> its restyled frame
    first_chunk_ms: float
    stages_ms_per_frame: dict[str, float]  # mean ms per frame of each stage over the chunks after the first
    load_average: tuple[float, float, float]  # 1/5/15-minute load of the machine when it ran
    other_cpu: float | None = None  # CPU cores other processes used on average during the timing (None: unknown)


def _busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (Linux /proc/stat), None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure_speed(
    bundle: ModelBundle, clip: Video, prompt: str, strength: float, threads: int, warmup: int = 9
) -> SpeedResult:
    """Frames pushed one at a time, as a live source would, as fast as the engine takes them. A short
    warm-up stream runs first (lazy initialisation), then a fresh engine is timed on `clip`."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = engine_frames(clip)
        warm = StreamEngine(bundle, EngineConfig(prompt=prompt, strength=strength, seed=1))
        for i in range(min(warmup, len(x))):
            warm.push(x[i : i + 1])
        warm.flush()
        engine = StreamEngine(bundle, EngineConfig(prompt=prompt, strength=strength, seed=0))
        outputs, chunks = [], []  # outputs: (time, frames) of every push that gave frames
        busy0, own0 = _busy_seconds(), time.process_time()
        start = time.perf_counter()
        for i in range(len(x)):
            out = engine.push(x[i : i + 1])
            chunks += engine.metrics
            if out.numel():
                outputs.append((time.perf_counter(), out.shape[0]))
        wall, busy1, own1 = time.perf_counter() - start, _busy_seconds(), time.process_time()
    finally:
        torch.set_num_threads(previous)
    other = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
    span = outputs[-1][0] - outputs[0][0]
    after_first = sum(n for _, n in outputs[1:])
    steady = [m for m in chunks[1:] if not m.skipped] or chunks
    frames = sum(m.frames_in for m in steady)
    names = [f.name for f in dataclasses.fields(ChunkMetrics) if f.name.endswith("_ms")]
    return SpeedResult(
        threads=threads,
        frames=len(x),
        sustained_fps=after_first / span if span > 0 else float("nan"),
        first_frame_ms=(outputs[0][0] - start) * 1000.0,
        first_chunk_ms=chunks[0].total_ms,
        stages_ms_per_frame={n: sum(getattr(m, n) for m in steady) / frames for n in names},
        load_average=os.getloadavg(),
        other_cpu=other,
    )


# ---- 7: contact sheet ------------------------------------------------------------------------------------


def contact_sheet(
    examples: list[tuple[str, Video, Video, Video]], path: Path, columns: int = 4, tile: int = 128
) -> Path:
    """A PNG with, per example (label, input, output, ground truth), three rows of `columns` frames
    spread over the clip. OpenCV is imported here only."""
    import cv2

    label_w, font = 170, cv2.FONT_HERSHEY_SIMPLEX
    rows = []
    for label, inp, out, gt in examples:
        T, H, W, _ = out.shape
        w = max(1, round(tile * W / H))
        idx = np.linspace(0, T - 1, min(columns, T)).round().astype(int)
        interp = cv2.INTER_AREA if tile <= H else cv2.INTER_NEAREST
        for name, video in (("input", inp), ("output", out), ("ground truth", gt)):
            strip = np.full((tile, label_w + columns * w, 3), 255, np.uint8)
            for c, i in enumerate(idx):
                frame = np.ascontiguousarray(cv2.resize(video[i], (w, tile), interpolation=interp))
                cv2.putText(frame, f"t={i}", (3, 12), font, 0.35, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(frame, f"t={i}", (3, 12), font, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
                strip[:, label_w + c * w : label_w + (c + 1) * w] = frame
            if name == "input":
                cv2.putText(strip, label, (6, tile // 2 - 8), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(strip, name, (6, tile // 2 + 14), font, 0.42, (90, 90, 90), 1, cv2.LINE_AA)
            rows.append(strip)
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.concatenate(rows[:-1], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(sheet[..., ::-1])):
        raise OSError(f"could not write the contact sheet to {path}")
    return path
