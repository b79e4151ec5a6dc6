"""The report page (`python -m v2v train report`): the header, the machine and settings, the summary
table of every target measured, then each section's text (report_text.py) in order, and the contact
sheet's section. `write_report` returns the page; report.py writes it.

Other tools add sections of their own to the page as kept blocks (`put_block`: scripts/animation_sheet.py's
animation and story sheets); a new report keeps them (`kept_blocks`), so each tool's numbers stay until that
tool measures again.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from v2v.engine import EngineConfig
from v2v.models.bundle import ModelBundle
from v2v.sampling import v2v_timesteps
from v2v.train.report_text import (
    DRIFT_GATED,
    TARGET_ACCURACY,
    TARGET_DRIFT,
    TARGET_FPS,
    TARGET_WARP_RATIO,
    pct,
    section_drift,
    section_gates,
    section_pairs,
    section_restyle,
    section_speed,
    section_teacher,
    section_temporal,
    table,
    verdict,
)

if TYPE_CHECKING:
    from v2v.train.report import ReportSettings, Results

SECTIONS = ("1", "2", "3", "4", "5", "6", "7", "8")  # every section of the full report
_BLOCK = re.compile(r"<!-- kept: (?P<name>[\w-]+) -->\n.*?<!-- /kept: (?P=name) -->\n", re.DOTALL)


def put_block(page: str, name: str, body: str) -> str:
    """`page` with the kept block `name` set to `body` (markdown): replaced where it is, else appended."""
    block = f"<!-- kept: {name} -->\n{body.rstrip()}\n<!-- /kept: {name} -->\n"
    for m in _BLOCK.finditer(page):
        if m.group("name") == name:
            return page[: m.start()] + block + page[m.end() :]
    return page.rstrip("\n") + "\n\n" + block


def kept_blocks(page: str) -> list[str]:
    """The kept blocks of an earlier page, in order, markers included."""
    return [m.group(0) for m in _BLOCK.finditer(page)]


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
