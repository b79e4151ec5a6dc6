"""`python -m v2v.train.report` (wired as `python -m v2v train report`): measure a model on held-out
procedural scenes and write docs/quality.md with a contact sheet beside it.

Sections: 1. blocky → realistic at the default strength (PSNR/SSIM against the ground-truth render);
2. style accuracy over every pair of the styles the model knows (the style classifier judges); 3. temporal consistency
(warp error against the ground truth's, flicker); 4. drift over one long stream and the KV cache size;
5. the student against its bidirectional many-step teacher (SDEdit) on the same inputs; 6. speed;
7. the contact sheet; 8. the restyle gates (gates.py: held-out procedural, voxel and real content, every
style), with their own contact sheet. The page's numbers are also written as JSON beside it. Every figure
is computed by the run that writes the page; each target is shown with PASS or FAIL. The measurements live
in report_sections.py and gates.py; this file runs them and writes text.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

from v2v.engine import EngineConfig
from v2v.metrics import drift
from v2v.models.bundle import DEFAULT_DIR, ModelBundle, load_bundle
from v2v.models.loading import CheckpointError
from v2v.sampling import v2v_timesteps
from v2v.train import report_sections as rs
from v2v.train.classifier import StyleClassifier, load_classifier
from v2v.train.data import heldout_seeds, render_clip, sample_scene, style_prompt
from v2v.train.gates import gates_markdown, gates_sheet, known_styles, restyle_gates

T = TypeVar("T")  # what a timed section returns
TARGET_ACCURACY = 0.90  # fraction of output frames called the prompted style
TARGET_WARP_RATIO = 1.3  # output warp error / ground-truth warp error
TARGET_DRIFT = 0.10  # |relative change| of each gated metric, last window vs first
TARGET_FPS = 15.0  # sustained frames per second on this CPU
DRIFT_GATED = (
    "ssim_to_gt",
    "psnr_to_gt",
    "brightness_vs_gt",
    "contrast_vs_gt",
    "colorfulness_vs_gt",
    "sharpness_vs_gt",
)
SHEET_PAIRS = (("realistic", "toon"), ("sketch", "night"), ("toon", "sketch"), ("night", "blocky"))
RUN_TEACHER_DIR = Path("runs/default/teacher")
FULL_REPORT = Path("docs/quality.md")
SECTIONS = ("1", "2", "3", "4", "5", "6", "7", "8")
SECTION_NAMES = {
    "render": "rendering",
    "ae": "autoencoder round trip",
    "1": "1 blocky -> realistic",
    "2": "2 style pairs",
    "4": "4 drift stream",
    "5": "5 teacher",
    "6": "6 speed",
    "7": "7 contact sheet",
    "8": "8 restyle gates",
}


@dataclass(frozen=True)
class ReportSettings:
    """How much to measure."""

    scenes: int = 8  # held-out scenes for blocky -> realistic (sections 1, 3)
    frames: int = 17  # frames per clip (1 + 4k keeps the teacher on every frame)
    pair_scenes: int = 2  # held-out scenes per style pair (section 2)
    stream_frames: int = 2000  # frames of the drift stream (section 4)
    window: int = 100  # frames in each drift window
    teacher_scenes: int = 4  # scenes of blocky -> realistic the teacher runs (section 5)
    teacher_pair_scenes: int = 1  # scenes per style pair the teacher runs
    teacher_steps: int = 16  # Euler steps of the teacher below its start timestep
    speed_frames: int = 64  # frames timed after the warm-up (section 6)
    speed_threads: int = 2  # torch CPU threads while timing
    gate_scenes: int = 3  # held-out scenes per scene kind for the restyle gates (section 8)
    gate_frames: int = 9  # frames per clip of the restyle gates


def quick_settings() -> ReportSettings:
    """A seconds-long smoke run: every section, tiny amounts."""
    return ReportSettings(
        scenes=1,
        frames=5,
        pair_scenes=1,
        stream_frames=40,
        window=10,
        teacher_scenes=1,
        teacher_pair_scenes=1,
        teacher_steps=3,
        speed_frames=9,
        gate_scenes=1,
        gate_frames=5,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m v2v train report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="default", help="'default' (v2v/weights/default) or a bundle folder")
    p.add_argument(
        "--teacher",
        default=None,
        help="teacher checkpoint (.pt from runs/…/teacher or .safetensors); default: MODEL/teacher.safetensors, "
        "else for the default model the newest runs/default/teacher/*.pt",
    )
    p.add_argument(
        "--out",
        default=None,
        help=f"report file; the contact sheet goes beside it (default: {FULL_REPORT}, the full report only)",
    )
    p.add_argument(
        "--sections",
        default=None,
        metavar="LIST",
        help="measure only these sections, e.g. 1,2,3 (1 and 3 share their clips; default: all): a partial "
        f"report for comparing models, written to --out (never {FULL_REPORT})",
    )
    p.add_argument("--scenes", type=int, help="held-out scenes for blocky -> realistic (default 8)")
    p.add_argument("--frames", type=int, help="frames per clip (default 17)")
    p.add_argument("--pair-scenes", type=int, help="held-out scenes per style pair (default 2)")
    p.add_argument("--stream-frames", type=int, help="frames of the drift stream (default 2000)")
    p.add_argument("--teacher-steps", type=int, help="teacher Euler steps (default 16)")
    p.add_argument("--speed-threads", type=int, help="torch CPU threads while timing speed (default 2)")
    p.add_argument("--strength", type=float, default=EngineConfig().strength, help="noise strength (engine default)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads outside the speed test")
    p.add_argument("--quick", action="store_true", help="a fast smoke run (tiny amounts of everything)")
    return p


def _settings(args: argparse.Namespace) -> ReportSettings:
    base = quick_settings() if args.quick else ReportSettings()
    over = {
        k: v
        for k, v in (
            ("scenes", args.scenes),
            ("frames", args.frames),
            ("pair_scenes", args.pair_scenes),
            ("stream_frames", args.stream_frames),
            ("teacher_steps", args.teacher_steps),
            ("speed_threads", args.speed_threads),
        )
        if v is not None
    }
    s = dataclasses.replace(base, **over)
    if s.scenes < 1 or s.pair_scenes < 1 or s.frames < 2 or s.stream_frames < 4:
        raise SystemExit("error: need --scenes >= 1, --pair-scenes >= 1, --frames >= 2, --stream-frames >= 4")
    return s


def parse_sections(text: str | None) -> tuple[str, ...]:
    """'1,3' -> ('1', '3'); None -> every section. Raises ValueError naming what is not a section."""
    if text is None:
        return SECTIONS
    asked = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in asked if t not in SECTIONS]
    if bad or not asked:
        raise ValueError(f"--sections {text!r}: give section numbers from {', '.join(SECTIONS)}, comma-separated")
    return tuple(t for t in SECTIONS if t in asked)


def default_teacher(model: str) -> Path | None:
    """MODEL/teacher.safetensors; for the default model else the newest checkpoint in runs/default/teacher/."""
    folder = DEFAULT_DIR if model == "default" else Path(model)
    if (folder / "teacher.safetensors").exists():
        return folder / "teacher.safetensors"
    if model == "default" and RUN_TEACHER_DIR.is_dir():
        ckpts = [p for p in RUN_TEACHER_DIR.glob("*.pt") if p.name != "latents.pt"]
        if ckpts:
            return max(ckpts, key=lambda p: p.stat().st_mtime)
    return None


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return {
        "CPU": cpu,
        "logical cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "Python": platform.python_version(),
        "load average (1/5/15 min) at start": load,
    }


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


# ---- running -------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = _settings(args)
    try:
        want = parse_sections(args.sections)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    partial = want != SECTIONS
    if args.out is None:
        if partial:
            print(
                f"error: a partial report (--sections) needs --out FILE: it never replaces the full {FULL_REPORT}",
                file=sys.stderr,
            )
            return 2
        args.out = str(FULL_REPORT)
    elif partial and Path(args.out).resolve() == FULL_REPORT.resolve():
        print(f"error: --sections writes a partial report; give another --out than {FULL_REPORT}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start, started = time.perf_counter(), datetime.datetime.now().astimezone()
    host = machine()
    try:
        bundle = load_bundle(args.model)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    judge = load_classifier()
    out = Path(args.out)
    sheet_path = out.with_name(f"{out.stem}_contact_sheet.png")
    s, strength = settings, args.strength
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], T]) -> T:
        t = time.perf_counter()
        result = fn()
        seconds[name] = time.perf_counter() - t
        print(f"report: {SECTION_NAMES[name]} done in {seconds[name]:.0f} s", file=sys.stderr, flush=True)
        return result

    def needed(*sections: str) -> bool:
        return any(x in want for x in sections)

    seeds = heldout_seeds(max(s.scenes, s.pair_scenes))
    known = set(known_styles(bundle))
    styles = tuple(st for st in judge.cfg.styles if st in known)  # what the judge names and the model knows
    clips = (
        timed("render", lambda: rs.render_scenes(seeds, s.frames, bundle.size, styles))
        if needed("1", "2", "3", "5", "7")
        else {}
    )
    restyle = ceiling = pairs = drift_result = teacher = speed = gates = None
    if needed("1", "3", "7"):
        restyle = timed(
            "1", lambda: rs.measure_restyle(bundle, {k: clips[k] for k in seeds[: s.scenes]}, strength, judge)
        )

    def student_clip(clip: rs.Video, prompt: str, seed: int) -> rs.Video:
        return rs.restyle(bundle, clip, prompt, strength, seed).output

    if needed("2", "3"):
        ceiling = timed("ae", lambda: rs.measure_autoencoder(bundle, {k: clips[k] for k in seeds[: s.scenes]}, judge))
    if needed("2", "7"):
        pairs = timed(
            "2",
            lambda: rs.measure_pairs(
                student_clip, {k: clips[k] for k in seeds[: s.pair_scenes]}, judge, keep=SHEET_PAIRS
            ),
        )
    if needed("4"):
        drift_result = timed("4", lambda: rs.measure_drift(bundle, seeds[0], s.stream_frames, s.window, strength))
    if needed("5"):
        teacher_path = Path(args.teacher) if args.teacher else default_teacher(args.model)
        teacher = timed("5", lambda: run_teacher(teacher_path, bundle, clips, seeds, s, strength, judge, pairs))
    if needed("6"):
        speed_clip = render_clip(sample_scene(seeds[0]), "blocky", s.speed_frames, bundle.size)
        speed = timed(
            "6", lambda: rs.measure_speed(bundle, speed_clip, style_prompt("realistic"), strength, s.speed_threads)
        )
    if needed("7"):
        assert restyle is not None and pairs is not None, "the contact sheet shows sections 1 and 2"
        examples = [
            (
                f"blocky -> realistic #{k - seeds[0]}",
                clips[k]["blocky"],
                restyle.examples[k].output,
                clips[k]["realistic"],
            )
            for k in seeds[: min(2, s.scenes)]
        ]
        examples += [(f"{a} -> {b}", *pairs.examples[(a, b)]) for a, b in SHEET_PAIRS[:3] if (a, b) in pairs.examples]
        timed("7", lambda: rs.contact_sheet(examples, sheet_path))

    if needed("8"):
        gate_examples: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        gates = timed(
            "8",
            lambda: restyle_gates(
                bundle, strength, bundle.size[0], s.gate_frames, s.gate_scenes, progress=False, examples=gate_examples
            ),
        )
        gates_sheet(gate_examples, out.with_name(f"{out.stem}_gates.png"))
    results = Results(want, restyle, pairs, ceiling, drift_result, teacher, speed, gates)
    text = write_report(
        args, settings, bundle, host, started, results, sheet_path, out, seconds, time.perf_counter() - t_start
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    measured = {
        "model": str(args.model),
        "sections": list(want),
        "summary": [
            dict(zip(("measure", "value", "target", "result"), row, strict=True)) for row in summary_rows(results)
        ],
        "gates": gates,
        "seconds": seconds,
    }
    out.with_suffix(".json").write_text(json.dumps(measured, indent=1, default=float))
    for row in summary_rows(results):
        print(f"{row[0]}: {row[1]} (target {row[2]}) {row[3].strip('*')}")
    written = f"{out} and {sheet_path}" if needed("7") else str(out)
    print(f"wrote {written} ({time.perf_counter() - t_start:.0f} s)")
    return 0


@dataclass
class Results:
    """What a report run measured; a section that was not asked for is None."""

    sections: tuple[str, ...]
    restyle: rs.RestyleResult | None
    pairs: rs.PairsResult | None
    ceiling: rs.AutoencoderCeiling | None
    drift: rs.DriftResult | None
    teacher: TeacherComparison | None
    speed: rs.SpeedResult | None
    gates: dict | None = None  # gates.restyle_gates

    def warp(self) -> tuple[float, float, float]:
        """-> (output warp error, ground truth's, their ratio) over section 1's clips."""
        assert self.restyle is not None, "section 3 needs section 1's clips"
        out, gt = self.restyle.mean("warp_out"), self.restyle.mean("warp_gt")
        return out, gt, out / max(gt, 1e-8)

    def drift_changes(self) -> dict[str, float]:
        assert self.drift is not None, "section 4 was not measured"
        return {k: drift(self.drift.first[k], self.drift.last[k]) for k in self.drift.first}


def summary_rows(r: Results) -> list[list[str]]:
    """The summary table's rows (measure, value, target, verdict) of the sections measured."""
    rows = []
    if "1" in r.sections and r.restyle is not None:
        psnr_out, psnr_in = r.restyle.mean("psnr_out"), r.restyle.mean("psnr_in")
        ssim_out, ssim_in = r.restyle.mean("ssim_out"), r.restyle.mean("ssim_in")
        rows += [
            [
                "1. blocky → realistic, PSNR to ground truth",
                f"output {psnr_out:.2f} dB, input {psnr_in:.2f} dB",
                "output > input",
                verdict(psnr_out > psnr_in),
            ],
            [
                "1. blocky → realistic, SSIM to ground truth",
                f"output {ssim_out:.3f}, input {ssim_in:.3f}",
                "output > input",
                verdict(ssim_out > ssim_in),
            ],
        ]
    if "2" in r.sections and r.pairs is not None:
        rows.append(
            [
                f"2. style accuracy, {len(r.pairs.accuracy)} pairs",
                pct(r.pairs.overall),
                f"≥ {pct(TARGET_ACCURACY)}",
                verdict(r.pairs.overall >= TARGET_ACCURACY),
            ]
        )
    if "3" in r.sections:
        warp_out, warp_gt, ratio = r.warp()
        rows.append(
            [
                "3. warp error, output / ground truth",
                f"{ratio:.2f}× ({warp_out:.4f} / {warp_gt:.4f})",
                f"≤ {TARGET_WARP_RATIO}×",
                verdict(ratio <= TARGET_WARP_RATIO),
            ]
        )
    if "4" in r.sections and r.drift is not None:
        changes = r.drift_changes()
        worst = max(DRIFT_GATED, key=lambda k: abs(changes[k]))
        rows.append(
            [
                f"4. drift over {r.drift.frames} frames (worst gated metric: {worst})",
                f"{100 * changes[worst]:+.1f}%",
                f"within ±{TARGET_DRIFT:.0%}",
                verdict(all(abs(changes[k]) <= TARGET_DRIFT for k in DRIFT_GATED)),
            ]
        )
    if "8" in r.sections and r.gates is not None:
        groups = r.gates["groups"]
        passing = sum(all(ok for _, ok in g["gates"].values()) for g in groups.values())
        rows.append(
            [
                "8. restyle gates (procedural, voxel, real content in every style)",
                f"{passing} of {len(groups)} groups pass every gate",
                "all",
                verdict(r.gates["passed"]),
            ]
        )
    if "6" in r.sections and r.speed is not None:
        rows.append(
            [
                "6. sustained speed",
                f"{r.speed.sustained_fps:.1f} FPS",
                f"≥ {TARGET_FPS:.0f} FPS",
                verdict(r.speed.sustained_fps >= TARGET_FPS),
            ]
        )
    return rows


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
    clips: dict[int, dict[str, rs.Video]],
    seeds: list[int],
    s: ReportSettings,
    strength: float,
    judge: StyleClassifier,
    pairs: rs.PairsResult | None,
) -> TeacherComparison:
    """SDEdit with the teacher on the first scenes of section 1 and on every style pair of the first scenes of
    section 2; the student's numbers on exactly the same clips and frames beside it."""
    from v2v.metrics import psnr, ssim

    if path is None:
        return TeacherComparison(
            "no teacher checkpoint was found (looked for MODEL/teacher.safetensors and, for "
            "the default model, runs/default/teacher/*.pt); pass --teacher PATH"
        )
    try:
        teacher = rs.load_teacher(path, bundle)
    except rs.TeacherUnavailable as e:
        return TeacherComparison(f"the teacher could not be used: {e}")
    scene_seeds = seeds[: min(s.teacher_scenes, s.scenes)]
    runs, student = [], []
    for k in tqdm(scene_seeds, desc="teacher blocky -> realistic", leave=False):
        r = rs.teacher_sdedit(
            teacher, bundle, clips[k]["blocky"], style_prompt("realistic"), strength, s.teacher_steps, k
        )
        runs.append(r)
        student.append(rs.restyle(bundle, clips[k]["blocky"], style_prompt("realistic"), strength, k))
    T = len(runs[0].output)
    gts = [clips[k]["realistic"][:T] for k in scene_seeds]

    def teacher_clip(clip: rs.Video, prompt: str, seed: int) -> rs.Video:
        return rs.teacher_sdedit(teacher, bundle, clip, prompt, strength, s.teacher_steps, seed).output

    pair_seeds = seeds[: min(s.teacher_pair_scenes, s.pair_scenes)]
    pair_clips = {k: {st: c[:T] for st, c in clips[k].items()} for k in pair_seeds}
    tp = rs.measure_pairs(teacher_clip, pair_clips, judge, desc="teacher style pairs")
    if pairs is not None and s.frames == T:  # the same clips as section 2: reuse the student's calls
        student_pairs = float(np.mean([pairs.per_scene[(a, b, k)] for a, b in tp.accuracy for k in pair_clips]))
    else:
        student_pairs = rs.measure_pairs(
            lambda c, p, k: rs.restyle(bundle, c, p, strength, k).output, pair_clips, judge, desc="student style pairs"
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
        teacher_acc=mean([rs.style_accuracy(r.output, "realistic", judge) for r in runs]),
        teacher_pairs=tp.overall,
        teacher_ms=1000 * mean([r.seconds / T for r in runs]),
        student_psnr=mean([psnr(r.output[:T], g) for r, g in zip(student, gts, strict=True)]),
        student_ssim=mean([ssim(r.output[:T], g) for r, g in zip(student, gts, strict=True)]),
        student_acc=mean([rs.style_accuracy(r.output[:T], "realistic", judge) for r in student]),
        student_pairs=student_pairs,
        student_ms=1000 * mean([r.seconds / len(r.output) for r in student]),
    )


# ---- writing -------------------------------------------------------------------------------------------


def write_report(
    args: argparse.Namespace,
    s: ReportSettings,
    bundle: ModelBundle,
    host: dict[str, str],
    started: datetime.datetime,
    r: Results,
    sheet_path: Path,
    out: Path,
    seconds: dict[str, float],
    total: float,
) -> str:
    steps = v2v_timesteps(bundle.sampling.timesteps, args.strength, bundle.sampling.v2v_offset)
    params = sum(p.numel() for p in bundle.dit.parameters())
    W, H = bundle.size
    partial = r.sections != SECTIONS
    flags = (" --quick" if args.quick else "") + (f" --sections {','.join(r.sections)}" if partial else "")
    mean_strength = f"{r.restyle.mean_strength:.3f}" if r.restyle is not None else "not measured"
    L = [
        f"# Quality report: {bundle.name}" + (f" (sections {', '.join(r.sections)} only)" if partial else ""),
        "",
        f"Written by `python -m v2v train report{flags}` on "
        f"{started.strftime('%Y-%m-%d %H:%M %Z')} in {total:.0f} s. Every number on this page was computed by "
        "that run on held-out procedural scenes (seeds from `heldout_seeds`, never seen in training); "
        "nothing is copied from elsewhere.",
        "",
        "## Machine and settings",
        "",
    ]
    L += table(
        ["", ""],
        [[k, v] for k, v in host.items()]
        + [
            [
                "model",
                f"`{args.model}` ({bundle.name}); student DiT {params / 1e6:.2f} M parameters, "
                f"{bundle.dit.config.num_layers} layers × dim {bundle.dit.config.dim}",
            ],
            ["working size", f"{W}×{H}"],
            [
                "sampling",
                f"shift {bundle.sampling.shift}, student steps {list(bundle.sampling.timesteps)}, "
                f"v2v offset {bundle.sampling.v2v_offset}, "
                f"{bundle.sampling.frames_per_block} latent frame(s) per chunk",
            ],
            [
                "strength",
                f"{args.strength} (engine default {EngineConfig().strength}); timesteps at this strength "
                f"{[round(t, 1) for t in steps]}; mean strength after motion adaptation "
                f"{mean_strength}",
            ],
            [
                "clips",
                f"{s.scenes} scenes × {s.frames} frames (blocky → realistic), {s.pair_scenes} scene(s) × "
                f"{len(r.pairs.accuracy) if r.pairs else 'every'} pairs × {s.frames} frames (style pairs), one "
                f"{s.stream_frames}-frame stream",
            ],
            [
                "engine",
                "`StreamEngine` with `EngineConfig` defaults except prompt, strength and seed (= the scene seed)",
            ],
        ],
    )
    L += ["", "## Summary", ""]
    L += table(["measure", "value", "target", "result"], summary_rows(r))
    if "5" in r.sections:
        L += ["", "Section 5 (student vs teacher) is a comparison without a target."]
    if partial:
        L += [
            "",
            f"A partial report: sections {', '.join(x for x in SECTIONS if x not in r.sections)} were not "
            "measured (`--sections`).",
        ]
    if "1" in r.sections and r.restyle is not None:
        L += section_restyle(r.restyle, seconds)
    if "2" in r.sections and r.pairs is not None and r.ceiling is not None:
        L += section_pairs(r.pairs, r.ceiling, seconds)
    if "3" in r.sections and r.restyle is not None and r.ceiling is not None:
        L += section_temporal(r.restyle, *r.warp(), r.ceiling)
    if "4" in r.sections and r.drift is not None:
        L += section_drift(r.drift, r.drift_changes(), seconds)
    if "5" in r.sections and r.teacher is not None:
        L += section_teacher(r.teacher, args.strength, s, seconds)
    if "6" in r.sections and r.speed is not None:
        L += section_speed(r.speed, bundle)
    if "7" in r.sections:
        rel = os.path.relpath(sheet_path, out.parent)
        L += [
            "",
            "## 7. Contact sheet",
            "",
            "Rows per example: input, output, ground truth (the same frames of the same held-out scene rendered "
            "in the target style); columns are frames spread over the clip.",
            "",
            f"![contact sheet]({rel})",
        ]
    if "8" in r.sections and r.gates is not None:
        L += section_gates(r.gates, os.path.relpath(out.with_name(f"{out.stem}_gates.png"), out.parent), seconds)
    return "\n".join(L + [""])


def section_gates(g: dict, sheet: str, seconds: dict[str, float]) -> list[str]:
    """Section 8: the restyle gates' table, what each measure is, and their contact sheet."""
    return [
        "",
        "## 8. Restyle gates",
        "",
        f"`v2v.train.gates.restyle_gates` at strength {g['strength']:g} ({seconds.get('8', 0):.0f} s): blocky → "
        "realistic on held-out side-view and top-down scenes and on the first-person voxel world against the "
        "ground truth (PSNR gain over the input, Sobel edge correlation, sharpness = Laplacian variance over the "
        "truth's, motion = frame-to-frame change over the truth's), and held-out real photos and clips (never "
        "trained on) restyled to every style the model knows (edge correlation with the input, mean absolute "
        "change, sharpness and motion over the input's). A blurred or mean image fails on edges and sharpness, "
        "the input unchanged on the PSNR gain and the change, a frozen frame on motion. The numbers are also in "
        "the JSON beside this page (`python -m v2v train gates --json` writes the same).",
        "",
        *gates_markdown(g),
        "",
        "Inputs (top row) and outputs, one style per row; the voxel scenes' output is their realistic restyle.",
        "",
        f"![restyle gates]({sheet})",
    ]


def section_restyle(r: rs.RestyleResult, seconds: dict[str, float]) -> list[str]:
    psnr_out, psnr_in = r.mean("psnr_out"), r.mean("psnr_in")
    ssim_out, ssim_in = r.mean("ssim_out"), r.mean("ssim_in")
    L = [
        "",
        "## 1. Blocky → realistic at the default strength",
        "",
        "The same held-out scene rendered blocky (the input) and realistic (the ground truth); the blocky clip "
        "goes through a fresh `StreamEngine` (push all, flush) with the prompt "
        f'"{style_prompt("realistic")}". PSNR and SSIM (`v2v.metrics`) of the output against the ground truth, '
        "next to the input against the same ground truth.",
        "",
    ]
    rows = [
        [
            str(x.seed),
            f"{x.psnr_in:.2f}",
            f"{x.psnr_out:.2f}",
            f"{x.psnr_colour:.2f}",
            f"{x.ssim_in:.3f}",
            f"{x.ssim_out:.3f}",
            pct(x.accuracy),
        ]
        for x in r.scenes
    ]
    colour = r.mean("psnr_colour")
    rows.append(
        [
            "**mean**",
            f"**{psnr_in:.2f}**",
            f"**{psnr_out:.2f}**",
            f"**{colour:.2f}**",
            f"**{ssim_in:.3f}**",
            f"**{ssim_out:.3f}**",
            f"**{pct(r.mean('accuracy'))}**",
        ]
    )
    L += table(
        [
            "scene seed",
            "PSNR input (dB)",
            "PSNR output (dB)",
            "PSNR output, colour matched (dB)",
            "SSIM input",
            "SSIM output",
            "output called realistic",
        ],
        rows,
    )
    L += [
        "",
        f"PSNR: output {psnr_out:.2f} dB vs input {psnr_in:.2f} dB → {verdict(psnr_out > psnr_in)}; "
        f"SSIM: output {ssim_out:.3f} vs input {ssim_in:.3f} → {verdict(ssim_out > ssim_in)} "
        f"(target: the output is closer to the ground truth than the input on both). Took {seconds['1']:.0f} s.",
        "",
        f"Colour matched (informational, not a gate): the output's PSNR after its mean colour over the clip is "
        f"moved to the ground truth's, channel by channel (`v2v.metrics.psnr_colour_matched`). The difference, "
        f"{colour - psnr_out:+.2f} dB, is what a global colour cast costs the output: the share of the error that is "
        "the scene's palette rather than its detail.",
    ]
    return L


def section_pairs(p: rs.PairsResult, ceiling: rs.AutoencoderCeiling, seconds: dict[str, float]) -> list[str]:
    L = [
        "",
        "## 2. Style accuracy over all style pairs",
        "",
        "Every (source, target) pair of the styles the classifier knows, source ≠ target: the held-out clip in "
        "the source style restyled with `style_prompt(target)`; the style classifier (`v2v.train.classifier`) "
        "judges every output "
        f"frame. Cell = fraction of output frames called the target style ({p.frames} frames judged in all).",
        "",
    ]
    styles = tuple(dict.fromkeys(a for a, _ in p.accuracy))  # the judge's styles
    rows = [[f"**{a}**", *("—" if a == b else pct(p.accuracy[(a, b)]) for b in styles)] for a in styles]
    L += table(["source ↓ / target →", *styles], rows)
    worst = min(p.accuracy, key=lambda pair: p.accuracy[pair])
    L += [
        "",
        f"Over all pairs: **{pct(p.overall)}** called the prompted style (target ≥ {pct(TARGET_ACCURACY)}) → "
        f"{verdict(p.overall >= TARGET_ACCURACY)}. Weakest pair: {worst[0]} → {worst[1]} "
        f"({pct(p.accuracy[worst])}).",
        "",
        "The judge itself on the ground-truth renders of these scenes: "
        + ", ".join(f"{st} {pct(v)}" for st, v in p.judge_on_truth.items())
        + ". On the ground-truth renders of the "
        "section-1 scenes after a round trip through the model's autoencoder alone "
        "(encode, decode, no DiT: the best any output can be): "
        + ", ".join(f"{st} {pct(v)} ({ceiling.psnr[st]:.1f} dB)" for st, v in ceiling.judged.items())
        + f". Took {seconds['2']:.0f} s.",
    ]
    return L


def section_temporal(
    r: rs.RestyleResult, warp_out: float, warp_gt: float, ratio: float, ceiling: rs.AutoencoderCeiling
) -> list[str]:
    L = [
        "",
        "## 3. Temporal consistency",
        "",
        "On the clips of section 1. Warp error (`v2v.metrics.warp_error`: mean abs error, 0..1, between each frame "
        "and the previous one warped onto it by optical flow, occlusions left out) of the output, against the warp "
        "error of the ground-truth render of the same motion. Flicker = mean frame-to-frame change over the input's "
        "(1 = as much change as the input).",
        "",
    ]
    rows = [
        [
            str(x.seed),
            f"{x.warp_out:.4f}",
            f"{x.warp_gt:.4f}",
            f"{x.warp_out / max(x.warp_gt, 1e-8):.2f}×",
            f"{x.flicker_out:.3f}",
            f"{x.flicker_gt:.3f}",
            f"{x.sharpness_vs_gt:.2f}",
        ]
        for x in r.scenes
    ]
    rows.append(
        [
            "**mean**",
            f"**{warp_out:.4f}**",
            f"**{warp_gt:.4f}**",
            f"**{ratio:.2f}×**",
            f"**{r.mean('flicker_out'):.3f}**",
            f"**{r.mean('flicker_gt'):.3f}**",
            f"**{r.mean('sharpness_vs_gt'):.2f}**",
        ]
    )
    L += table(
        [
            "scene seed",
            "warp error output",
            "warp error ground truth",
            "ratio",
            "flicker output",
            "flicker ground truth",
            "sharpness / ground truth",
        ],
        rows,
    )
    L += [
        "",
        f"Ratio of the means {ratio:.2f}× (target ≤ {TARGET_WARP_RATIO}×) → "
        f"{verdict(ratio <= TARGET_WARP_RATIO)}. The {ceiling.target} ground truth after a round trip through "
        f"the model's autoencoder alone has warp error {ceiling.warp:.4f}, "
        f"{ceiling.warp / max(warp_gt, 1e-8):.2f}× that of the render: the floor under any output. A blurrier "
        "output has less to flicker with, so read the ratio next to the sharpness column (`frame_stats` "
        "sharpness, mean absolute luma gradient, of the output over the ground truth's; 1 = as sharp).",
        "",
        f"Where the output's inconsistency sits (mean warp error per frame-to-frame transition, all scenes): "
        f"{r.mean('warp_boundary'):.4f} across chunk boundaries (where a new chunk starts from fresh noise), "
        f"{r.mean('warp_inside'):.4f} inside chunks; the ground truth {r.mean('warp_gt_step'):.4f} per transition.",
    ]
    return L


def section_drift(dr: rs.DriftResult, changes: dict[str, float], seconds: dict[str, float]) -> list[str]:
    path = (
        'The camera goes out and comes back (`stream_scene_frame`, path "pingpong"): stream frame i shows scene '
        f"frame i for the first {dr.frames // 2:,} frames and frame {dr.frames - 1} − i after, so the last "
        f"{dr.window} frames show the first {dr.window} scene frames again, in reverse. Between them lie "
        f"{dr.frames - 2 * dr.window:,} frames of history; the content, the motion and the ground truth of the two "
        "windows are the same, so a change is drift, not the scene's own change."
        if dr.path == "pingpong"
        else "The camera moves forward through the scene for the whole stream."
    )
    L = [
        "",
        f"## 4. Drift over a {dr.frames:,}-frame stream",
        "",
        f"One stream of held-out scene {dr.seed}, blocky → realistic, rendered in pieces (`render_styles(..., "
        "start=k)`) and pushed 16 frames at a time into one engine. " + path + " The first and the last "
        f"{dr.window} output frames are compared with the ground-truth render of the same frames. Gated metrics "
        f"(must change by at most ±{TARGET_DRIFT:.0%}): SSIM and PSNR to the ground truth and the output's frame "
        "statistics relative to the ground truth's. "
        "The raw statistics and the warp errors are shown for information. A control (not gated): the same last "
        f"{dr.window} input frames through a fresh engine; the stream's last window against it shows what the "
        f"{dr.frames:,} frames of history changed.",
        "",
    ]
    names = list(DRIFT_GATED) + [k for k in dr.first if k not in DRIFT_GATED]
    rows = []
    for k in names:
        gate = (verdict(abs(changes[k]) <= TARGET_DRIFT)) if k in DRIFT_GATED else "info"
        fresh = dr.fresh_last.get(k)
        rows.append(
            [
                k,
                f"{dr.first[k]:.4f}",
                f"{dr.last[k]:.4f}",
                f"{100 * changes[k]:+.1f}%",
                gate,
                "—" if fresh is None else f"{fresh:.4f}",
                "—" if fresh is None else f"{100 * drift(fresh, dr.last[k]):+.1f}%",
            ]
        )
    L += table(
        [
            "metric",
            f"first {dr.window}",
            f"last {dr.window}",
            "change",
            "within ±10%",
            f"last {dr.window}, fresh engine",
            "stream vs fresh",
        ],
        rows,
    )
    L += [
        "",
        f"KV cache: {dr.cache_bytes_start:,} bytes after the first chunk, {dr.cache_bytes_end:,} bytes at the "
        f"end of the stream ({dr.cache_frames_written:,} latent frames written, {dr.cache_rebases} RoPE "
        f"re-bases). Engine compute {dr.ms_per_frame_first:.1f} ms per frame over the first window, "
        f"{dr.ms_per_frame_last:.1f} ms over the last. "
        f"Stream wall time {dr.seconds:.0f} s (rendering included).",
    ]
    return L


def section_teacher(t: TeacherComparison, strength: float, s: ReportSettings, seconds: dict[str, float]) -> list[str]:
    L = ["", "## 5. Student vs teacher on the same inputs", ""]
    if not t.available:
        return L + [f"Not measured: {t.note}."]
    L += [
        f"Teacher: {t.note}, bidirectional (causal=False). SDEdit: the whole clip's latents (`bundle.vae.encode`) "
        f"noised to strength {strength} with the scene's seed, then an Euler solve of the flow ODE from the same "
        f"start timestep as the student ({t.evaluations} guided evaluations, classifier-free guidance {t.guidance} "
        "with the "
        "empty prompt as the unconditional branch, each evaluation a batch of two), then decode. Same clips for "
        f"both: blocky → realistic on scene(s) {t.scenes} ({t.frames} frames each), and the style pairs on "
        f"{s.teacher_pair_scenes} scene(s). Wall time per frame includes encode and decode for both, same "
        "threads.",
        "",
    ]
    rows = [
        ["PSNR to ground truth (dB)", f"{t.student_psnr:.2f}", f"{t.teacher_psnr:.2f}"],
        ["SSIM to ground truth", f"{t.student_ssim:.3f}", f"{t.teacher_ssim:.3f}"],
        ["blocky → realistic called realistic", pct(t.student_acc), pct(t.teacher_acc)],
        ["style accuracy, style pairs", pct(t.student_pairs), pct(t.teacher_pairs)],
        ["wall time per frame (ms)", f"{t.student_ms:.1f}", f"{t.teacher_ms:.1f}"],
    ]
    L += table(["", "student (few-step, causal)", "teacher (SDEdit, many-step)"], rows)
    L += [
        "",
        f"Teacher / student wall time per frame: {t.teacher_ms / max(t.student_ms, 1e-9):.1f}×. "
        f"Took {seconds['5']:.0f} s.",
    ]
    return L


def section_speed(sp: rs.SpeedResult, bundle: ModelBundle) -> list[str]:
    W, H = bundle.size
    L = [
        "",
        "## 6. Speed",
        "",
        f"Student + VAE at {W}×{H} on this CPU with torch threads = {sp.threads}: {sp.frames} held-out frames pushed "
        "one at a time into a fresh engine after a short warm-up stream. Sustained FPS = output frames per second "
        "after the first chunk; per-stage times are the engine's `ChunkMetrics`, per frame, over the chunks after the "
        f"first. Load average when it finished: {', '.join(f'{v:.2f}' for v in sp.load_average)} (this report's own "
        "work included).",
        "",
    ]
    fps_ok = verdict(sp.sustained_fps >= TARGET_FPS)
    rows = [
        ["sustained FPS", f"{sp.sustained_fps:.1f}", f"{fps_ok} (≥ {TARGET_FPS:.0f})"],
        ["time to first frame (ms)", f"{sp.first_frame_ms:.1f}", ""],
        ["first chunk (ms)", f"{sp.first_chunk_ms:.1f}", ""],
    ]
    rows += [[f"{k.removesuffix('_ms')} (ms per frame)", f"{v:.2f}", ""] for k, v in sp.stages_ms_per_frame.items()]
    L += table(["", "value", "target"], rows)
    if sp.other_cpu is not None:
        L += ["", f"Other processes used {sp.other_cpu:.2f} CPU cores on average while the speed was timed."]
        if sp.other_cpu > 0.5:
            L[-1] += (
                " They competed with the model, so these timings are lower than its own speed on an idle "
                "machine: re-run the report on an idle machine for the speed target."
            )
    return L


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
