"""The command line of generation (capture/generator.py): the commands `animate IMAGE OUT` and
`generate OUT|SINK`, and the live form's `--mode animate` and `--input none`.

The two commands are the live form with its input fixed (`animate`: `--input IMAGE --mode animate`;
`generate`: `--input none`) and `--seconds` turned into `--max-frames`, so they share its checks, sinks,
controls and runtime. `plan_live` checks what the live form adds for generation before anything opens.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capture.cli_parser import control_options
from capture.cli_values import parse_in_range
from capture.errors import CaptureError
from capture.script import Cue, read_script
from capture.sources.file import IMAGE_EXTENSIONS
from capture.sources.none import GENERATE_FPS

SECONDS = 4.0  # length of a generated file when --seconds is not given
RESTYLE_FPS = 30.0  # the rate of an image, the pattern, the screen or a window when restyling
IMAGE_FORMS = ", ".join(IMAGE_EXTENSIONS)


def _generation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seconds",
        default=None,
        metavar="N",
        help=f"length of the video (default: {SECONDS:g} into a file; into a live sink it runs until Ctrl-C or quit)",
    )
    p.add_argument("--fps", default=None, metavar="F", help=f"frames per second (default {GENERATE_FPS:g})")
    p.add_argument(
        "--script",
        default=None,
        metavar="FILE",
        help="timed prompt changes: one 'SECONDS PROMPT' a line, blended in as the video plays",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    control_options(p)


def add_commands(sub: argparse._SubParsersAction, model_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The `animate` and `generate` commands, with the model options of the live form."""
    a = sub.add_parser(
        "animate",
        help="image animation: a still image → a video that moves",
        description="Animate a still: the image is the video's first frame (within the autoencoder's round "
        "trip) and the clean first frame in the model's cache; the frames after it are generated from "
        "noise, following the prompt. OUT is a video file or any SINK of the live form.",
    )
    a.add_argument("image", metavar="IMAGE", help=f"a still image ({IMAGE_FORMS})")
    a.add_argument("out", metavar="OUT", help="a video file (.mp4 .m4v .mov .mkv) or a SINK (preview, udp://...)")
    _generation_options(a)
    model_options(a)

    g = sub.add_parser(
        "generate",
        help="text to video, streamed; the prompt can change while it plays",
        description="Generate video from the prompt alone, chunk after chunk (the cache rolls: memory stays "
        "constant however long it runs). The prompt changes without a reset from stdin, --control-port or "
        "--script; the new one is blended in over a few chunks. OUT is a video file or any SINK.",
    )
    g.add_argument("out", metavar="OUT|SINK", help="a video file (.mp4 .m4v .mov .mkv) or a SINK (preview, vcam, ...)")
    _generation_options(g)
    model_options(g)


def as_live_form(args: argparse.Namespace, source: str, mode: str) -> argparse.Namespace:
    """`animate` / `generate` as the live form: --input `source`, --mode `mode`, --output OUT, and --seconds
    (at --fps) as --max-frames."""
    from capture.sinks import is_file_sink

    if source != "none":
        check_still(source, "animate")
    fps = parse_fps(args.fps)
    seconds = None
    if args.seconds is not None:
        seconds = parse_in_range(args.seconds, "--seconds", 0.0, 24 * 3600.0, False, "the video's length", "4")
    elif is_file_sink(args.out):
        seconds = SECONDS
    frames = None if seconds is None else max(1, round(seconds * fps))
    live = dict(vars(args), input=source, output=[args.out], mode=mode, fps=str(fps))
    live["max_frames"] = None if frames is None else str(frames)
    return argparse.Namespace(**live)


@dataclass(frozen=True)
class LivePlan:
    """What the live form does with its input."""

    kind: str  # "restyle", "animate" (an image starts the stream) or "generate" (--input none)
    fps: float  # the rate of none, an image, the pattern, the screen or a window
    script: list[Cue] = field(default_factory=list)  # timed prompt changes (generation only)
    none_size: tuple[int, int] | None = None  # (W, H) of --input none's frames

    @property
    def generating(self) -> bool:
        """Whether the Generator runs instead of the Restyler."""
        return self.kind != "restyle"


def plan_live(args: argparse.Namespace, size: tuple[int, int] | None) -> LivePlan:
    """Check --mode, --fps and --script against --input (no file is opened but the script)."""
    spec = args.input
    if args.mode == "animate":
        if spec == "none":
            raise CaptureError(
                "--mode animate needs an image to start from, and --input none has none: give --input IMAGE, "
                "or drop --mode animate to generate from the prompt alone"
            )
        check_still(spec, "--mode animate")
    kind = "generate" if spec == "none" else args.mode
    if args.fps is not None and (spec.split(":", 1)[0] == "camera" or _is_video(spec)):
        raise CaptureError(
            f"--fps applies to none, an image, the pattern, the screen or a window, not {spec}: drop it"
            + (" (a camera takes --camera-fps)" if spec.startswith("camera") else " (a video plays at its own rate)")
        )
    fps = parse_fps(args.fps) if args.fps is not None else (GENERATE_FPS if kind != "restyle" else RESTYLE_FPS)
    if args.script is not None and kind == "restyle":
        raise CaptureError(
            "--script applies to generation: use it with --input none, --mode animate, or the generate and "
            "animate commands (a restyled stream takes prompts from stdin or --control-port)"
        )
    script = read_script(args.script) if args.script is not None else []
    if kind == "generate" and not args.prompt and not script:
        raise CaptureError("text to video needs a prompt: give --prompt TEXT or --script FILE")
    none_size = (size or model_size(args.model)) if spec == "none" else None
    return LivePlan(kind, fps, script, none_size)


def parse_fps(text: str | None) -> float:
    """--fps as frames per second in (0, 240] (None: the generation default)."""
    if text is None:
        return GENERATE_FPS
    return parse_in_range(text, "--fps", 0.0, 240.0, False, "frames per second", "16")


def check_still(spec: str, what: str) -> None:
    """`spec` must name an image file (by its extension); existence is checked when it is opened."""
    if spec.lower().endswith(IMAGE_EXTENSIONS):
        return
    kind = "a video" if _is_video(spec) else "not an image file"
    raise CaptureError(
        f"{what} needs a still image ({IMAGE_FORMS}), and {spec} is {kind}: give an image"
        + (", or restyle the video with `restyle`" if _is_video(spec) else "")
    )


def _is_video(spec: str) -> bool:
    return os.path.splitext(spec)[1].lower() in (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif", ".ts")


def model_size(spec: str) -> tuple[int, int]:
    """The working size (W, H) that model `spec` declares, read from its config without loading its weights
    (a v2v bundle's config.json "size", a checkpoint folder's v2v.json "size", else Wan2.1's 832x480): the
    size of --input none's frames, which the sinks need before the model loads."""
    from v2v.models.bundle import DEFAULT_DIR, WAN_SIZE

    folder = DEFAULT_DIR if spec == "default" else Path(spec)
    if not folder.is_dir():
        raise CaptureError(f"--model {spec}: no such model folder: pass --model default or a model folder")
    for name in ("config.json", "v2v.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text())
            if isinstance(config, dict) and "size" in config:
                w, h = (int(v) for v in config["size"])
                return w, h
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
            raise CaptureError(f"cannot read model {spec}'s working size from {path} ({e}): pass --size WxH") from e
    return WAN_SIZE
