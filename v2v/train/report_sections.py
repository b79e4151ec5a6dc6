"""The report's measurements on short clips (`python -m v2v train report`, sections 1, 2, 3 and 7) and
the helpers the other measurement modules share (report_stream.py: drift and speed; report_teacher.py:
the teacher); report_text.py and report_page.py write them up.

Every function renders held-out procedural scenes (data.heldout_seeds), restyles them and returns
plain numbers in small dataclasses; nothing here formats text. Videos are uint8 [T, H, W, 3] RGB
(the layout of v2v.train.data and v2v.metrics); the engine gets float [T, 3, H, W] in [-1, 1].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
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
from v2v.pixels import to_float
from v2v.train.classifier import StyleClassifier, classify
from v2v.train.data import STYLES, render_styles, sample_scene, style_prompt

Video = np.ndarray  # uint8 [T, H, W, 3] RGB


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
    frames = to_float(clip)  # [T, 3, H, W]
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
    x = to_float(clip).transpose(0, 1).unsqueeze(0).to(bundle.device, bundle.dtype)  # [1, 3, T, H, W]
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
