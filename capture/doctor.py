"""`python -m v2v doctor`: what this machine can do, and how to fix what it cannot.

Each check is a small function returning `Check`s; a check that fails unexpectedly is reported as a
failure with its error, never hidden. The exit status is 1 when something v2v needs (torch, the
H.264 encoder, the model) is broken, else 0; optional parts (a GPU, a camera, a virtual camera)
only warn.
"""

from __future__ import annotations

import glob
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Literal


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: str  # "ok", "warn" (optional part missing) or "fail" (v2v cannot work)
    detail: str
    fix: str = ""


def check_python() -> list[Check]:
    version = platform.python_version()
    status = "ok" if sys.version_info >= (3, 10) else "fail"
    return [
        Check(
            "python",
            status,
            f"{version} on {platform.system()} {platform.machine()}",
            "" if status == "ok" else "use Python 3.10 or newer",
        )
    ]


def check_torch() -> list[Check]:
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    checks = [Check("torch", "ok", f"{torch.__version__} ({build}), {torch.get_num_threads()} CPU threads")]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        checks.append(
            Check("device", "ok", f"cuda: {props.name}, {props.total_memory / 2**30:.0f} GiB (--device auto uses it)")
        )
    else:
        fix = (
            "install a CUDA build of torch (pytorch.org lists the pip command for your CUDA version)"
            if torch.version.cuda is None
            else "install the NVIDIA driver, or check CUDA_VISIBLE_DEVICES"
        )
        checks.append(Check("device", "warn", "no CUDA GPU: the model runs on the CPU (slow for large models)", fix))
    from v2v.devices import cpu_computes_bf16

    native = cpu_computes_bf16()
    how = "native (AVX512-BF16 or AMX)" if native else "emulated (no AVX512-BF16 or AMX)"
    checks.append(
        Check("cpu bfloat16", "ok", f"{how}: --dtype auto runs a CPU model in {'bfloat16' if native else 'float32'}")
    )
    return checks


def check_model(model: str) -> list[Check]:
    from v2v.models.bundle import DEFAULT_DIR, load_bundle
    from v2v.models.loading import CheckpointError

    where = DEFAULT_DIR if model == "default" else model
    try:
        bundle = load_bundle(model)
    except CheckpointError as e:
        fix = (
            "build it: python -m v2v train all"
            if model == "default"
            else "pass --model default or a folder written by v2v or a Wan/CausVid checkpoint folder"
        )
        return [Check("model", "fail", f"{model} ({where}) does not load: {e}", fix)]
    w, h = bundle.size
    params = sum(p.numel() for p in bundle.dit.parameters())
    return [
        Check(
            "model",
            "ok",
            f"{model}: {bundle.name}, {params / 1e6:.1f} M DiT parameters, trained at "
            f"{w}x{h}, {len(bundle.sampling.timesteps)} steps, KV window {bundle.window_frames} + "
            f"{bundle.sink_frames} sink frame(s)"
            f"{' (kept adjacent)' if bundle.sink_adjacent else ''}, sink refresh "
            f"{'off' if bundle.sink_refresh <= -1 else f'below cosine {bundle.sink_refresh:g}'}, "
            f"noise refresh {bundle.noise_refresh:g}",
        )
    ]


def check_attention() -> list[Check]:
    from v2v.models import attention

    checks = []
    for name, reason in attention.available_backends().items():
        checks.append(
            Check(f"attention {name}", "ok" if reason is None else "warn", "available" if reason is None else reason)
        )
    return checks


def check_video_files() -> list[Check]:
    import av

    checks = []
    for codec, use, needed in (
        ("libx264", "H.264 output files", True),
        ("aac", "audio", False),
        ("h264", "H.264 input files", True),
    ):
        mode: Literal["r", "w"] = "r" if codec == "h264" else "w"
        try:
            av.codec.Codec(codec, mode)
            checks.append(Check(f"PyAV {codec}", "ok", f"{use} (PyAV {av.__version__})"))
        except av.codec.codec.UnknownCodecError:
            checks.append(
                Check(
                    f"PyAV {codec}",
                    "fail" if needed else "warn",
                    f"no {codec}: no {use}",
                    "pip install --force-reinstall av (the PyPI wheels include it)",
                )
            )
    return checks


def check_capture() -> list[Check]:
    from capture.sinks.preview import why_unavailable as preview_unavailable
    from capture.sources.screen import why_unavailable as screen_unavailable
    from capture.sources.window import probe as probe_windows

    checks = []
    reason = screen_unavailable()
    if reason is None:
        import mss.exception

        from capture.sources.screen import list_monitors

        try:
            where = os.environ.get("DISPLAY", "this desktop")
            checks.append(Check("screen capture", "ok", f"{len(list_monitors()) - 1} screen(s) on {where}"))
        except mss.exception.ScreenShotError as e:
            checks.append(Check("screen capture", "warn", f"mss cannot grab: {e}", "check DISPLAY"))
    else:
        checks.append(Check("screen capture", "warn", reason))
    works, detail = probe_windows()
    checks.append(Check("window capture", "ok" if works else "warn", detail))
    if sys.platform.startswith("linux"):
        devices = sorted(glob.glob("/dev/video*"))
        checks.append(
            Check(
                "camera",
                "ok" if devices else "warn",
                f"devices: {', '.join(devices)}" if devices else "no /dev/video* device",
                "" if devices else "plug in a camera (and check the 'video' group)",
            )
        )
    else:
        checks.append(Check("camera", "ok", "OpenCV VideoCapture (not probed: it would switch the camera on)"))
    reason = preview_unavailable()
    checks.append(Check("preview window", "ok" if reason is None else "warn", reason or "cv2.imshow works"))
    return checks


def check_virtual_camera() -> list[Check]:
    import pyvirtualcam

    from capture.sinks.vcam import why_unavailable

    backends = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
    try:
        with pyvirtualcam.Camera(64, 64, 30) as camera:
            return [Check("virtual camera", "ok", f"{camera.backend} at {camera.device} (backends: {backends})")]
    except RuntimeError as e:
        return [Check("virtual camera", "warn", f"(backends: {backends}) {why_unavailable(e)}")]


CHECKS: tuple[Callable[[], list[Check]], ...] = (
    check_python,
    check_torch,
    check_attention,
    check_video_files,
    check_capture,
    check_virtual_camera,
)


def run_doctor(model: str = "default", out: IO[str] = sys.stdout) -> int:
    """Print every check; 1 when something v2v needs is broken."""
    failed = False
    checks: list[Callable[[], list[Check]]] = [*CHECKS[:2], lambda: check_model(model), *CHECKS[2:]]
    for check in checks:
        try:
            results = check()
        except Exception as e:  # a broken check is itself a finding: report it, keep going
            name = getattr(check, "__name__", "check").removeprefix("check_")
            results = [Check(name, "fail", f"the check itself failed: {type(e).__name__}: {e}")]
        for c in results:
            failed |= c.status == "fail"
            line = f"[{c.status:^4}] {c.name}: {c.detail}"
            print(line + (f"\n       fix: {c.fix}" if c.fix else ""), file=out)
    return 1 if failed else 0
