"""The text of the report's sections (`python -m v2v train report`): each `section_*` turns one section's
measurements (report_sections.py, report_stream.py, report_teacher.py, gates.py) into markdown lines with
its targets and PASS/FAIL; report_page.py puts them together into the page. Nothing here measures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from v2v.metrics import drift
from v2v.models.bundle import ModelBundle
from v2v.train.data import style_prompt
from v2v.train.gates import gates_markdown
from v2v.train.report_sections import AutoencoderCeiling, PairsResult, RestyleResult
from v2v.train.report_stream import DriftResult, SpeedResult
from v2v.train.report_teacher import TeacherComparison

if TYPE_CHECKING:
    from v2v.train.report import ReportSettings

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


def verdict(ok: bool) -> str:
    """The result cell of a target: bold PASS or FAIL."""
    return "**PASS**" if ok else "**FAIL**"


def pct(x: float) -> str:
    """A fraction 0..1 as a percentage with one decimal."""
    return f"{100 * x:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines: the header, the rule, one line per row."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def section_restyle(r: RestyleResult, seconds: dict[str, float]) -> list[str]:
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


def section_pairs(p: PairsResult, ceiling: AutoencoderCeiling, seconds: dict[str, float]) -> list[str]:
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
    r: RestyleResult, warp_out: float, warp_gt: float, ratio: float, ceiling: AutoencoderCeiling
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


def section_drift(dr: DriftResult, changes: dict[str, float], seconds: dict[str, float]) -> list[str]:
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


def section_speed(sp: SpeedResult, bundle: ModelBundle) -> list[str]:
    W, H = bundle.size
    L = [
        "",
        "## 6. Speed",
        "",
        f"Student + VAE at {W}×{H} on this CPU with torch threads = {sp.threads}, in {sp.dtype} (what `--dtype auto` "
        f"runs here): {sp.frames} held-out frames pushed "
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
