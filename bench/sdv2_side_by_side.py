"""Side by side, in one run: StreamDiffusionV2's own streaming pipeline and v2v's StreamEngine on the same tiny
Wan2.1-architecture student (random weights, the same tensors on both sides), the same size, denoising steps,
KV-cache shape, input frames, VAE (v2v's TinyVAE) and device. Prints a table and one JSON object: ms per output
frame of each side, and v2v's over StreamDiffusionV2's (issue #33's target: <= 0.8).

    .venv/bin/python bench/sdv2_side_by_side.py [--size 256x256] [--steps 2] [--frames 65] [--threads 2] ...

StreamDiffusionV2 (PyPI `streamdiffusionv2` 0.1.1, Apache-2.0) is installed `--no-deps` into its own venv
(bench/.venv-sdv2, git-ignored), with torch from this machine's disk and only what its imported modules need;
each side runs in a subprocess of its own venv (bench/side_sdv2.py, bench/side_v2v.py). bench/README.md says
what each side runs and what is patched on theirs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from bench_spec import LATENT_CHANNELS, SideResult, Spec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SDV2 = "streamdiffusionv2==0.1.1"
# what their imported modules need beside torch (models/wan/*: diffusers' ModelMixin, the tokenizer module's
# transformers and ftfy, the VAE's einops), at their pins; huggingface_hub < 1 for that transformers
SDV2_NEEDS = ("einops==0.8.1", "diffusers==0.35.1", "transformers==4.54.0", "ftfy==6.3.1", "huggingface_hub<1.0")
V2V_VARIANTS = ("clean-pass", "no-clean-pass")
TARGET = 0.8  # v2v's steady ms per frame over StreamDiffusionV2's


def ensure_sdv2_venv(venv: Path, torch_spec: str, wheel: str | None) -> Path:
    """Create or complete the StreamDiffusionV2 venv; returns its python. A marker file records what was
    installed, so a second run installs nothing."""
    python = venv / "bin" / "python"
    marker = venv / ".side-by-side-ready"
    want = "\n".join([torch_spec, wheel or SDV2, *SDV2_NEEDS]) + "\n"
    if marker.exists() and marker.read_text() == want:
        return python
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)], "create the StreamDiffusionV2 venv")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, torch_spec], f"install {torch_spec} into {venv}")
    constraints = venv / "torch-constraint.txt"  # nothing below may replace that torch with a CUDA build
    constraints.write_text(torch_spec + "\n")
    _run([*pip, "--no-deps", wheel or SDV2], f"install {wheel or SDV2} (--no-deps)")
    _run([*pip, "-c", str(constraints), *SDV2_NEEDS], "install what StreamDiffusionV2's modules import")
    _run([str(python), "-c", "import models.wan.causal_stream_inference"], "import StreamDiffusionV2's pipeline")
    marker.write_text(want)
    return python


def _run(cmd: list[str], what: str) -> None:
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"error: could not {what} ({' '.join(cmd)}); fix the cause above and run again")


def make_inputs(spec: Spec, folder: Path) -> None:
    """The tensors both sides read: DiT and TinyVAE weights, the prompt embedding, the input clip and the check
    latent, all from spec.seed."""
    from side_v2v import dit_config

    from v2v.bench import synthetic_frames
    from v2v.models.dit import DiT
    from v2v.models.text import RandomPromptEncoder
    from v2v.models.tiny_vae import TinyVAE

    torch.manual_seed(spec.seed)
    torch.save(DiT(dit_config(spec)).state_dict(), folder / "dit.pt")
    torch.save(TinyVAE().state_dict(), folder / "vae.pt")
    torch.save(RandomPromptEncoder(spec.text_len, spec.text_dim).encode([spec.prompt]), folder / "context.pt")
    torch.save(synthetic_frames(spec.frames, (spec.width, spec.height)), folder / "clip.pt")  # [T, 3, H, W]
    h, w = spec.height // 8, spec.width // 8
    torch.save(torch.randn(1, LATENT_CHANNELS, 1, h, w), folder / "check_x.pt")  # [1, z, 1, h, w]


def run_side(python: Path, args: list[str], spec: Spec, name: str) -> None:
    """One side in its own interpreter; SystemExit with its last output when it fails."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    if spec.threads:
        env.update(OMP_NUM_THREADS=str(spec.threads), MKL_NUM_THREADS=str(spec.threads))
    done = subprocess.run([str(python), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"{tail}\nerror: the {name} side failed (exit {done.returncode}); its output is above")


def flow_check(folder: Path) -> dict[str, float]:
    """How far the two models' outputs on the check latent are apart (the same weights: rounding only)."""
    ours = torch.load(folder / "flow_v2v.pt", weights_only=True)
    theirs = torch.load(folder / "flow_sdv2.pt", weights_only=True)
    diff = (ours - theirs).abs().max().item()
    return {"max_abs_diff": diff, "max_abs": theirs.abs().max().item(), "relative": diff / theirs.abs().max().item()}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} logical cores{gpu}, {platform.system()} {platform.release()}"


def table(spec: Spec, sides: list[SideResult], theirs: SideResult) -> str:
    head = (
        f"{spec.width}x{spec.height}, {spec.frames} frames, {spec.steps} steps, strength {spec.strength}, "
        f"DiT dim {spec.dim} x {spec.layers} layers ({theirs.params / 1e6:.1f} M parameters), cache "
        f"{spec.cache_frames} latent frames of which sinks {spec.sink_frames}, TinyVAE on both sides, {spec.device} "
        f"{spec.dtype}, threads {spec.threads or 'torch default'}; ms per output frame"
    )
    rows = [
        head,
        "",
        "| side | DiT passes / chunk | steady | DiT | encode | decode | whole stream | first chunk (frames) "
        "| delay (chunks) | steady / SDV2 | whole / SDV2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sides:
        rows.append(
            f"| {s.name} | {s.dit_passes} | {s.steady_ms_per_frame:.1f} | {s.steady_dit_ms_per_frame:.1f} | "
            f"{s.steady_encode_ms_per_frame:.1f} | {s.steady_decode_ms_per_frame:.1f} | {s.ms_per_frame:.1f} | "
            f"{s.first_chunk_ms:.0f} ({s.first_chunk_frames}) | {s.delay_chunks} | "
            f"{s.steady_ms_per_frame / theirs.steady_ms_per_frame:.2f} | {s.ms_per_frame / theirs.ms_per_frame:.2f} |"
        )
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Spec]:
    d = Spec()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", default=f"{d.width}x{d.height}", help="WxH, multiples of 16")
    p.add_argument("--dim", type=int, default=d.dim, help="DiT width, a multiple of 128 (head dim 128)")
    p.add_argument("--ffn-dim", type=int, default=d.ffn_dim)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--steps", type=int, default=d.steps, help="denoising steps of [700, 500, 400, 200]")
    p.add_argument("--frames", type=int, default=d.frames, help="input frames, 1 + 4k")
    p.add_argument("--strength", type=float, default=d.strength)
    p.add_argument("--cache", type=int, default=d.cache_frames, help="latent frames a chunk attends to")
    p.add_argument("--sinks", type=int, default=d.sink_frames)
    p.add_argument("--sink-refresh", type=float, default=d.sink_refresh, help="-1: sinks are never replaced")
    p.add_argument("--repeats", type=int, default=d.repeats, help="timed streams per side after a warm-up")
    p.add_argument("--device", default=d.device, choices=["cpu", "cuda"])
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="default: float32 on the CPU")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads per side (0: torch's default)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sdv2-venv", type=Path, default=HERE / ".venv-sdv2", help="where their venv is made")
    p.add_argument("--sdv2-python", type=Path, help="an interpreter that already has their package (no setup)")
    p.add_argument("--sdv2-wheel", help="install their package from this wheel file instead of PyPI")
    p.add_argument("--torch", default="torch==2.13.0", help="the torch requirement of their venv")
    p.add_argument("--setup-only", action="store_true", help="make their venv, then stop")
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    a = p.parse_args(argv)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        p.error(f"--size {a.size}: write WxH, e.g. 256x256")
    dtype = a.dtype or ("bfloat16" if a.device == "cuda" else "float32")
    spec = Spec(
        dim=a.dim,
        ffn_dim=a.ffn_dim,
        layers=a.layers,
        width=w,
        height=h,
        steps=a.steps,
        frames=a.frames,
        strength=a.strength,
        cache_frames=a.cache,
        sink_frames=a.sinks,
        sink_refresh=a.sink_refresh,
        repeats=max(1, a.repeats),
        seed=a.seed,
        device=a.device,
        dtype=dtype,
        threads=a.threads,
    )
    try:
        spec.check()
    except ValueError as e:
        p.error(str(e))
    return a, spec


def main(argv: list[str] | None = None) -> None:
    a, spec = parse_args(argv)
    python = a.sdv2_python or ensure_sdv2_venv(a.sdv2_venv.resolve(), a.torch, a.sdv2_wheel)
    if a.setup_only:
        print(f"StreamDiffusionV2 venv ready: {python}")
        return
    with tempfile.TemporaryDirectory(prefix="sdv2-side-by-side-") as tmp:
        folder = Path(tmp)
        spec.save(folder)
        make_inputs(spec, folder)
        for variant in V2V_VARIANTS:
            run_side(Path(sys.executable), [str(HERE / "side_v2v.py"), tmp, variant], spec, f"v2v ({variant})")
        run_side(python, [str(HERE / "side_sdv2.py"), tmp], spec, "StreamDiffusionV2")
        ours = [SideResult.load(folder / f"result_v2v-{v}.json") for v in V2V_VARIANTS]
        theirs = SideResult.load(folder / "result_sdv2.json")
        check = flow_check(folder)
    sides = [theirs, *ours]
    report = {
        "machine": machine(),
        "spec": dataclasses.asdict(spec),
        "sides": {s.name: dataclasses.asdict(s) for s in sides},
        "ratio_steady": {s.name: s.steady_ms_per_frame / theirs.steady_ms_per_frame for s in ours},
        "ratio_whole_stream": {s.name: s.ms_per_frame / theirs.ms_per_frame for s in ours},
        "target_ratio": TARGET,
        "flow_check": check,
    }
    if not a.json:
        print(table(spec, sides, theirs))
        print(f"\nmachine: {report['machine']}")
        print(
            f"same weights, one DiT pass on both models: max |diff| {check['max_abs_diff']:.2e} "
            f"({check['relative']:.1e} of the output's max)\n"
        )
    print(json.dumps(report, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
