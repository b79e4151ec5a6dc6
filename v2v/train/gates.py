"""Quality gates of the default model's parts, measured on held-out content.

    result = autoencoder_gates(vae)          # round trip of held-out real images/video and procedural clips
    result["real"]["psnr"], result["passed"]
    result = restyle_gates(bundle)           # restyles of held-out procedural scenes and real content

The autoencoder gate (what a user sees before the DiT runs at all): on held-out real photos and frames,
mean PSNR >= 24 dB, Sobel edge correlation >= 0.8 and sharpness (Laplacian variance over the input's)
>= 0.5; on held-out procedural clips PSNR >= 28 dB. A blurred output fails on sharpness and edges, a
noisy one on PSNR; each threshold is checked in tests/v2v/train/test_gates.py against such outputs.

The restyle gates (what a user sees at the default strength and steps), `RESTYLE_GATES`:
- blocky -> realistic on held-out side-view and top-down scenes, and on the first-person voxel world, against
  the ground-truth render: PSNR >= the input's + 3 dB, Sobel edge correlation >= 0.6, sharpness (Laplacian
  variance over the truth's) within 0.6-1.5, and motion (frame-to-frame change over the truth's) >= 0.5;
- held-out real photos and clips, every style the model knows: edge correlation with the input >= 0.5 while
  the mean absolute change is >= 0.06 of full scale (visibly restyled), sharpness over the input's >= 0.4,
  and on moving clips motion over the input's >= 0.5.
A blurred or mean image fails on edges and sharpness, the input unchanged on the PSNR gain and the change,
a frozen frame on motion (tests/v2v/train/test_gates.py checks each against such outputs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from v2v import metrics
from v2v.models.bundle import ModelBundle
from v2v.models.protocols import VideoAutoencoder

AE_GATES = {"real_psnr": 24.0, "real_edge_corr": 0.8, "real_sharpness": 0.5, "procedural_psnr": 28.0}


def square_view(image: np.ndarray, side: int) -> np.ndarray:
    """The largest centred square of a uint8 [H, W, 3] image, resized to side × side (area averaging)."""
    import cv2

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return cv2.resize(image[y : y + s, x : x + s], (side, side), interpolation=cv2.INTER_AREA)


def held_out_real(side: int = 256, frames: int = 9) -> dict[str, np.ndarray]:
    """name -> uint8 [T, side, side, 3]: each held-out photo as one frame, each held-out sequence as its
    first `frames` frames (T = 1 + 4k)."""
    from v2v.train.real_data import load_real

    out = {}
    for item in load_real("heldout"):
        clip = item.frames[:frames] if item.frames.shape[0] > 1 else item.frames[:1]
        out[item.name] = np.stack([square_view(f, side) for f in clip])
    return out


def held_out_procedural(side: int = 256, frames: int = 9, scenes: int = 3) -> dict[str, np.ndarray]:
    """name -> uint8 [T, side, side, 3]: held-out procedural scenes, each in a different style."""
    from v2v.train import data

    out = {}
    for i, seed in enumerate(data.heldout_seeds(scenes)):
        style = data.STYLES[i % len(data.STYLES)]
        out[f"scene {seed} {style}"] = data.render_clip(data.sample_scene(seed), style, frames, (side, side))
    return out


def round_trip_scores(codec: Callable[[np.ndarray], np.ndarray], clips: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per clip and mean PSNR (dB), edge correlation and sharpness of codec(clip) against the clip."""
    per: dict[str, dict[str, float]] = {}
    for name, clip in clips.items():
        out = codec(clip)
        per[name] = {
            "psnr": metrics.psnr(out, clip),
            "edge_corr": metrics.structure(out, clip)["edge_corr"],
            "sharpness": metrics.sharpness(out, clip),
        }
    mean = {k: float(np.mean([v[k] for v in per.values()])) for k in ("psnr", "edge_corr", "sharpness")}
    return {"clips": per, **mean}


def vae_codec(vae: VideoAutoencoder) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 [T, H, W, 3] -> the autoencoder's round trip, uint8 [T, H, W, 3]."""

    @torch.no_grad()
    def codec(clip: np.ndarray) -> np.ndarray:
        x = (
            torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).float()[None] / 127.5 - 1
        )  # [1, 3, T, H, W]
        y = vae.decode(vae.encode(x))[0]  # [3, T, H, W]
        return metrics.as_uint8_video(y.transpose(0, 1))  # [T, H, W, 3]

    return codec


def autoencoder_gates(vae: VideoAutoencoder, side: int = 256) -> dict[str, Any]:
    """The autoencoder gate on held-out content: {"real": scores, "procedural": scores, "gates": {name:
    (value, threshold, passed)}, "passed": bool}."""
    codec = vae_codec(vae)
    real = round_trip_scores(codec, held_out_real(side))
    procedural = round_trip_scores(codec, held_out_procedural(side))
    values = {
        "real_psnr": real["psnr"],
        "real_edge_corr": real["edge_corr"],
        "real_sharpness": real["sharpness"],
        "procedural_psnr": procedural["psnr"],
    }
    gates = {k: (values[k], AE_GATES[k], values[k] >= AE_GATES[k]) for k in AE_GATES}
    return {"real": real, "procedural": procedural, "gates": gates, "passed": all(g[2] for g in gates.values())}


RESTYLE_GATES: dict[str, tuple[float, float]] = {  # name -> (low, high) of the passing range
    "psnr_gain": (3.0, float("inf")),  # procedural: output PSNR to the truth minus the input's, dB
    "edge_corr": (0.6, float("inf")),  # procedural: Sobel edge correlation with the truth
    "sharpness": (0.6, 1.5),  # procedural: Laplacian variance over the truth's
    "motion": (0.5, float("inf")),  # frame-to-frame change over the reference's (truth, or the input on real clips)
    "real_edge_corr": (0.5, float("inf")),  # real: edge correlation with the input
    "real_change": (0.06, float("inf")),  # real: mean |output - input| over full scale
    "real_sharpness": (0.4, float("inf")),  # real: Laplacian variance over the input's
}


def procedural_restyle_scores(output: np.ndarray, source: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The procedural restyle gate's measures of one clip: output, its source and the ground truth of the
    target style, each uint8 [T, H, W, 3]."""
    return {
        "psnr_gain": metrics.psnr(output, truth) - metrics.psnr(source, truth),
        "edge_corr": metrics.structure(output, truth)["edge_corr"],
        "sharpness": metrics.sharpness(output, truth),
        "motion": metrics.motion(output) / max(metrics.motion(truth), 1e-6),
    }


def real_restyle_scores(output: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """The real-content restyle gate's measures of one clip (uint8 [T, H, W, 3] each); "motion" only for
    a source that moves."""
    change = float(np.abs(output.astype(np.float32) - source.astype(np.float32)).mean() / 255.0)
    scores = {
        "real_edge_corr": metrics.structure(output, source)["edge_corr"],
        "real_change": change,
        "real_sharpness": metrics.sharpness(output, source),
    }
    if metrics.motion(source) > 1e-3:
        scores["motion"] = metrics.motion(output) / metrics.motion(source)
    return scores


def judge(scores: dict[str, float]) -> dict[str, tuple[float, bool]]:
    """name -> (value, passed) for each measure that has a gate."""
    out = {}
    for name, value in scores.items():
        lo, hi = RESTYLE_GATES[name]
        out[name] = (value, lo <= value <= hi)
    return out


def known_styles(bundle: ModelBundle) -> tuple[str, ...]:
    """The styles the bundle's prompt encoder knows: by name, or every word of the style's prompt (an unknown
    word is ignored, so a style none of whose words are known cannot be asked for)."""
    from v2v.models.word_text import split_words
    from v2v.train.data import STYLES, style_prompt

    vocab = getattr(getattr(bundle.text, "config", None), "vocab", None)
    if vocab is None:  # an open-vocabulary encoder (umT5) knows every style by name
        return STYLES
    return tuple(s for s in STYLES if s in vocab or all(w in vocab for w in split_words(style_prompt(s))))


def _mean_scores(per: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({k for p in per for k in p})
    return {k: float(np.mean([p[k] for p in per if k in p])) for k in names}


def restyle_gates(
    bundle: ModelBundle,
    strength: float | None = None,
    side: int = 256,
    frames: int = 9,
    scenes: int = 3,
    styles: tuple[str, ...] | None = None,
    progress: bool = True,
    examples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """The restyle gates of a bundle at `strength` (default: the engine's) -> {"groups": {group: {"clips":
    {name: scores}, "mean": scores, "gates": {name: (value, passed)}}}, "passed": bool, "strength": s}.
    Groups: "blocky->realistic" (side-view and top-down scenes), "voxel blocky->realistic" (the first-person
    voxel world), and "real: STYLE" for each style (default: every style the model knows). `examples`, when
    given, receives (group, clip name) -> (the source's middle frame, the output's), uint8 [H, W, 3] each."""
    from tqdm import tqdm

    from v2v.engine import EngineConfig
    from v2v.train.data import heldout_seeds, render_styles, sample_scene, style_prompt
    from v2v.train.report_sections import restyle

    s = EngineConfig().strength if strength is None else strength
    jobs: list[tuple[str, str, np.ndarray, np.ndarray | None, str]] = []  # group, name, source, truth, style
    size = (side, side)
    for group, kinds in (("blocky->realistic", ("side", "topdown")), ("voxel blocky->realistic", ("voxel",))):
        for kind in kinds:
            for seed in heldout_seeds(scenes):
                clips = render_styles(sample_scene(seed, kind), ("blocky", "realistic"), frames, size)
                jobs.append((group, f"{kind} {seed}", clips["blocky"], clips["realistic"], "realistic"))
    real = held_out_real(side, frames)
    for style in styles or known_styles(bundle):
        for name, clip in real.items():
            jobs.append((f"real: {style}", name, clip, None, style))
    groups: dict[str, dict[str, Any]] = {}
    for i, (group, name, source, truth, style) in enumerate(tqdm(jobs, desc="restyle gates", disable=not progress)):
        output = restyle(bundle, source, style_prompt(style), s, seed=i).output
        scores = (
            real_restyle_scores(output, source) if truth is None else procedural_restyle_scores(output, source, truth)
        )
        groups.setdefault(group, {"clips": {}})["clips"][name] = scores
        if examples is not None:
            examples[(group, name)] = (source[len(source) // 2], output[len(output) // 2])
    for g in groups.values():
        g["mean"] = _mean_scores(list(g["clips"].values()))
        g["gates"] = judge(g["mean"])
    passed = all(ok for g in groups.values() for _, ok in g["gates"].values())
    return {"groups": groups, "passed": passed, "strength": s}


def gates_markdown(result: dict[str, Any]) -> list[str]:
    """The restyle gates as a markdown table: one row per group, each measure with PASS or FAIL."""
    names = [n for n in RESTYLE_GATES if any(n in g["gates"] for g in result["groups"].values())]

    def bound(name: str) -> str:
        lo, hi = RESTYLE_GATES[name]
        return f"≥ {lo:g}" if hi == float("inf") else f"{lo:g}–{hi:g}"

    lines = [
        "| group | " + " | ".join(f"{n} ({bound(n)})" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for group, g in result["groups"].items():
        cells = []
        for n in names:
            if n in g["gates"]:
                value, ok = g["gates"][n]
                cells.append(f"{value:.2f} {'PASS' if ok else 'FAIL'}")
            else:
                cells.append("—")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def gates_sheet(
    examples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], path: Any, tile: int = 160
) -> list[str]:
    """A contact sheet of `restyle_gates` examples, written as PNG to `path`: one column per held-out real clip
    and per voxel scene (two), the input on top and below it its output in each style (a voxel scene only in
    `realistic`, its restyle gate). -> the column names."""
    import cv2

    real = {g[len("real: ") :]: g for g in dict.fromkeys(g for g, _ in examples) if g.startswith("real: ")}
    cells: dict[tuple[str, str], np.ndarray] = {}  # (column, row) -> image
    voxel = [n for g, n in examples if g == "voxel blocky->realistic"][:2]
    for (group, name), (source, output) in examples.items():
        if group.startswith("real: "):
            cells[(name, "input")], cells[(name, group[len("real: ") :])] = source, output
        elif name in voxel:
            cells[(name, "input")], cells[(name, "realistic")] = source, output
    columns = list(dict.fromkeys(n for n, row in cells if row == "input"))
    rows = ["input", *real]
    label_w, pad, top = 110, 4, 24
    sheet = np.full((top + len(rows) * (tile + pad), label_w + len(columns) * (tile + pad), 3), 255, np.uint8)
    for c, name in enumerate(columns):
        x = label_w + c * (tile + pad)
        cv2.putText(sheet, name[:20], (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for r, row in enumerate(rows):
            if (name, row) in cells:
                y = top + r * (tile + pad)
                cell = cv2.resize(cells[(name, row)], (tile, tile), interpolation=cv2.INTER_AREA)
                sheet[y : y + tile, x : x + tile] = cell
    for r, row in enumerate(rows):
        y = top + r * (tile + pad) + tile // 2
        cv2.putText(sheet, row, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return columns


def main(argv: list[str]) -> int:
    """`python -m v2v train gates`: the restyle gates of a bundle (and with --autoencoder its autoencoder's), as a
    markdown table on stdout and, with --json, one JSON object. Exit 0 when every gate passes, 2 when one fails."""
    import argparse
    import json
    import sys
    from pathlib import Path

    from v2v.models.bundle import DEFAULT_DIR, load_bundle
    from v2v.models.loading import CheckpointError

    p = argparse.ArgumentParser(prog="python -m v2v train gates", description=main.__doc__)
    p.add_argument("--model", default="default", help="a bundle folder (default: the shipped model)")
    p.add_argument("--strength", type=float, default=None, help="noise strength (default: the engine's)")
    p.add_argument("--scenes", type=int, default=3, help="held-out scenes per scene kind (default 3)")
    p.add_argument("--frames", type=int, default=9, help="frames per clip, 1 + 4k (default 9)")
    p.add_argument("--size", type=int, default=256, help="side of the square clips in pixels (default 256)")
    p.add_argument("--autoencoder", action="store_true", help="also the autoencoder's round-trip gate")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the measures as JSON")
    args = p.parse_args(argv)
    try:
        bundle = load_bundle(DEFAULT_DIR if args.model == "default" else Path(args.model))
    except (FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    result = restyle_gates(bundle, args.strength, args.size, args.frames, args.scenes)
    result["model"] = str(args.model)
    if args.autoencoder:
        ae = autoencoder_gates(bundle.vae, args.size)
        result["autoencoder"] = ae
        result["passed"] = result["passed"] and ae["passed"]
    print("\n".join(gates_markdown(result)))
    if args.autoencoder:
        print(
            "autoencoder: "
            + ", ".join(
                f"{k} {v:.2f} {'PASS' if ok else 'FAIL'}" for k, (v, _, ok) in result["autoencoder"]["gates"].items()
            )
        )
    print(f"strength {result['strength']:g}: {'every gate passes' if result['passed'] else 'a gate FAILS'}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=float))
    return 0 if result["passed"] else 2
