"""`python -m v2v.train.report` (wired as `python -m v2v train report`): measure a model on held-out
procedural scenes and write docs/quality.md with a contact sheet beside it.

Sections: 1. blocky → realistic at the default strength (PSNR/SSIM against the ground-truth render);
2. style accuracy over every pair of the styles the model knows (the style classifier judges); 3. temporal consistency
(warp error against the ground truth's, flicker); 4. drift over one long stream and the KV cache size;
5. the student against its bidirectional many-step teacher (SDEdit) on the same inputs; 6. speed;
7. the contact sheet; 8. the restyle gates (gates.py: held-out procedural, voxel and real content, every
style), with their own contact sheet. The page's numbers are also written as JSON beside it. Every figure
is computed by the run that writes the page; each target is shown with PASS or FAIL. The measurements live
in report_sections.py, report_stream.py, report_teacher.py and gates.py, the text in report_text.py and
report_page.py; this file holds the command line and its settings and runs the sections asked for.
"""

from __future__ import annotations

import argparse
import copy
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

from v2v.devices import default_dtype
from v2v.engine import EngineConfig
from v2v.metrics import drift
from v2v.models.bundle import DEFAULT_DIR, load_bundle
from v2v.models.loading import CheckpointError
from v2v.train import report_sections as rs
from v2v.train.classifier import load_classifier
from v2v.train.data import heldout_seeds, render_clip, sample_scene, style_prompt
from v2v.train.gates import gates_sheet, known_styles, restyle_gates
from v2v.train.report_page import SECTIONS, kept_blocks, summary_rows, write_report
from v2v.train.report_stream import DriftResult, SpeedResult, measure_drift, measure_speed
from v2v.train.report_teacher import TeacherComparison, run_teacher

T = TypeVar("T")  # what a timed section returns
SHEET_PAIRS = (("realistic", "toon"), ("sketch", "night"), ("toon", "sketch"), ("night", "blocky"))
RUN_TEACHER_DIR = Path("runs/default/teacher")
FULL_REPORT = Path("docs/quality.md")
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
    """The machine and its load at the start, rows of the report's settings table."""
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
        drift_result = timed("4", lambda: measure_drift(bundle, seeds[0], s.stream_frames, s.window, strength))
    if needed("5"):
        teacher_path = Path(args.teacher) if args.teacher else default_teacher(args.model)
        teacher = timed("5", lambda: run_teacher(teacher_path, bundle, clips, seeds, s, strength, judge, pairs))
    if needed("6"):
        speed_clip = render_clip(sample_scene(seeds[0]), "blocky", s.speed_frames, bundle.size)
        # timed in the number format a user's run gets on this CPU (`--dtype auto`); the other sections in float32
        dtype = default_dtype(str(bundle.device))
        fast = bundle if dtype == bundle.dtype else copy.deepcopy(bundle).to(bundle.device, dtype)
        speed = timed(
            "6", lambda: measure_speed(fast, speed_clip, style_prompt("realistic"), strength, s.speed_threads)
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
    for block in kept_blocks(out.read_text()) if out.exists() else []:  # other tools' sections stay
        text = text.rstrip("\n") + "\n\n" + block
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
    drift: DriftResult | None
    teacher: TeacherComparison | None
    speed: SpeedResult | None
    gates: dict | None = None  # gates.restyle_gates

    def warp(self) -> tuple[float, float, float]:
        """-> (output warp error, ground truth's, their ratio) over section 1's clips."""
        assert self.restyle is not None, "section 3 needs section 1's clips"
        out, gt = self.restyle.mean("warp_out"), self.restyle.mean("warp_gt")
        return out, gt, out / max(gt, 1e-8)

    def drift_changes(self) -> dict[str, float]:
        """-> {metric: relative change of the last drift window over the first}."""
        assert self.drift is not None, "section 4 was not measured"
        return {k: drift(self.drift.first[k], self.drift.last[k]) for k in self.drift.first}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
