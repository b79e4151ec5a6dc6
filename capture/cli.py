"""The command line: `python -m v2v` (live), `restyle`, `animate`, `generate`, `bench`, `doctor`, `train`.
See docs/usage.md.

Every bad input ends in one line `error: <what went wrong and how to fix it>` on stderr and exit
status 1 (2 for usage errors such as an unknown option), with a traceback only under `--debug`.
Inputs are checked before the model is loaded and before anything is written, so a mistake costs
nothing and an existing output is never truncated by a run that cannot work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, NoReturn

from capture.errors import CaptureError

if TYPE_CHECKING:
    from capture.runtime import Controls
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.models.bundle import ModelBundle

PROG = "python -m v2v"
MAX_SIDE = 4096  # pixels: a larger working size is a typo, not a request


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line: `error: ... (see --help)`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _model_options(p: argparse.ArgumentParser, bench: bool = False) -> None:
    p.add_argument("--prompt", default="", metavar="TEXT", help="target style, e.g. 'realistic sunny hills'")
    p.add_argument(
        "--strength",
        default="0.7",
        metavar="S",
        help="how far from the input, in (0, 1]: low keeps structure, 1 ignores the input (default 0.7)",
    )
    p.add_argument(
        "--model",
        default="default",
        metavar="default|PATH" + ("|random:NAME" if bench else ""),
        help="'default' (the embedded model) or a model folder"
        + (
            "; random:causvid-1.3b, random:causvid-1.3b-tinyvae, random:sdv2-1.3b-tinyvae or random:tiny time an "
            "architecture with random weights (nothing to download; see docs/benchmarks.md)"
            if bench
            else ""
        )
        + " (default: default)",
    )
    p.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="working size, multiples of 16 (default: "
        + ("the model's training size)" if bench else "the model's pixel count at the input's aspect)"),
    )
    p.add_argument(
        "--steps",
        default=None,
        metavar="N",
        help="denoising steps per chunk, 1 to the model's schedule length (default: all)",
    )
    p.add_argument("--seed", default="0", metavar="N", help="noise seed (default 0)")
    p.add_argument(
        "--noise-refresh",
        default=None,
        metavar="R",
        help="share of fresh noise per chunk in [0, 1]: 1 = new noise every chunk (CausVid), 0 = one "
        "fixed noise (steadiest on still shots) (default: the model's, see `doctor`)",
    )
    p.add_argument(
        "--sink-refresh",
        default=None,
        metavar="COS",
        help="adaptive attention sinks: a sink whose keys/values' cosine similarity to the newest frame "
        "falls below COS in [-1, 1] takes that frame (StreamDiffusionV2 uses 0.2; -1 = never) "
        "(default: the model's, see `doctor`)",
    )
    p.add_argument(
        "--no-clean-pass",
        dest="clean_pass",
        action="store_false",
        help="cache the last denoising step's keys/values instead of re-running the clean "
        "output at t = 0 (one DiT pass less per chunk; see docs/benchmarks.md)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the DiT's blocks: faster on a GPU once compiled, but the first chunks "
        "wait seconds for it (see docs/benchmarks.md)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where the model runs: auto = cuda when available, else cpu (default auto)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")


OBS_OPTIONS = ("obs_host", "obs_port", "obs_password", "obs_scene", "obs_styles", "obs_prompt_source")


def _obs_options(p: argparse.ArgumentParser) -> None:
    """The options of `--output obs` (read by plugins/obs, which registers that sink)."""
    g = p.add_argument_group("with --output obs (OBS Studio through obs-websocket 5, see docs/obs.md)")
    g.add_argument("--obs-host", default=None, metavar="HOST", help="where OBS runs (default 127.0.0.1)")
    g.add_argument("--obs-port", default=None, metavar="N", help="obs-websocket's port (default 4455)")
    g.add_argument(
        "--obs-password",
        default=None,
        metavar="PASSWORD",
        help="obs-websocket's password (default: $V2V_OBS_PASSWORD, which other users cannot see)",
    )
    g.add_argument(
        "--obs-scene",
        default=None,
        metavar="NAME",
        help="the scene that gets the 'V2V Output' source (default: the current program scene)",
    )
    g.add_argument(
        "--obs-styles",
        default=None,
        metavar="FILE",
        help="a TOML file of scene name -> prompt and strength: switching scenes switches the style",
    )
    g.add_argument(
        "--obs-prompt-source",
        default=None,
        metavar="NAME",
        help="take the prompt from the text of this OBS text source, live",
    )


def _check_obs_options(args: argparse.Namespace) -> None:
    """The --obs-* options need --output obs."""
    given = [name for name in OBS_OPTIONS if getattr(args, name) is not None]
    if given and not any(spec.split(":", 1)[0] == "obs" for spec in args.output):
        option = "--" + given[0].replace("_", "-")
        raise CaptureError(f"{option} applies only to --output obs: add --output obs, or drop {option}")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also used to generate docs/usage.md's option lists)."""
    p = _Parser(
        prog=PROG,
        description="Real-time video-to-video restyling. Live form: "
        f"{PROG} --input SRC --output SINK [options]; see also the commands below.",
        epilog="SRC = camera[:N] | screen[:N] | window:TITLE | game_window | pattern[:WxH] | none | a video "
        "or image file.  SINK = vcam[:DEVICE] | obs | preview | null | udp://HOST:PORT | "
        "srt://HOST:PORT | a video file (.mp4 .m4v .mov .mkv).",
    )
    p.add_argument("--input", metavar="SRC", help="where frames come from")
    p.add_argument(
        "--output",
        metavar="SINK",
        action="append",
        help="where restyled frames go; repeat it to send them to several sinks",
    )
    p.add_argument("--max-frames", default=None, metavar="N", help="stop after N input frames")
    p.add_argument(
        "--mode",
        default="restyle",
        choices=("restyle", "animate"),
        help="restyle the input, or animate an image input: it starts the video, the rest is generated "
        "(default restyle; --input none always generates from the prompt)",
    )
    p.add_argument(
        "--fps",
        default=None,
        metavar="F",
        help="frames per second of none, an image, the pattern, the screen or a window (default 16 when "
        "generating, else 30)",
    )
    p.add_argument(
        "--script",
        default=None,
        metavar="FILE",
        help="with --input none or --mode animate: timed prompt changes, one 'SECONDS PROMPT' a line",
    )
    p.add_argument(
        "--game-titles",
        default=None,
        metavar="A,B",
        help="with --input game_window: more window titles (or classes) to take for games, before the built-in list",
    )
    p.add_argument(
        "--camera-size",
        default=None,
        metavar="WxH",
        help="with --input camera: the capture size to ask the camera for (default: its own)",
    )
    p.add_argument(
        "--camera-fps",
        default=None,
        metavar="F",
        help="with --input camera: the frame rate to ask the camera for (default: its own)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--control-port",
        default=None,
        metavar="N",
        help="steer the run over HTTP on port N (0: a free one): GET /status, POST /control",
    )
    p.add_argument(
        "--control-host",
        default=None,
        metavar="HOST",
        help="the address --control-port listens on (default 127.0.0.1); any other needs the "
        "token in V2V_CONTROL_TOKEN",
    )
    p.add_argument(
        "--parent-pid",
        default=None,
        metavar="PID",
        help="stop (as Ctrl-C does) when process PID ends: for programs that start v2v, such as the OBS script",
    )
    _obs_options(p)
    _model_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser(
        "restyle",
        help="offline file → file (or folder → folder), audio kept",
        description="Restyle a video file (or every video in a folder). Every frame is "
        "kept with its timestamp; audio is copied unchanged. Ctrl-C finishes the output "
        "with the frames done so far and exits 130.",
    )
    r.add_argument("input", metavar="IN", help="a video file, or a folder of videos")
    r.add_argument("output", metavar="OUT", help="a video file (.mp4 .m4v .mov .mkv), or a folder")
    r.add_argument("--overwrite", action="store_true", help="replace existing output files")
    _model_options(r)
    from capture.generate_cli import add_commands

    add_commands(sub, _model_options)  # animate, generate

    b = sub.add_parser(
        "bench",
        help="speed and latency end to end, through the live pipeline",
        description="Time the whole live path: a source paced at --fps (the test pattern, or a "
        "video file) through the engine into a sink that only keeps times. Reports fps, the first "
        "frame's wait, capture-to-output latency percentiles, drops, stage times, the model's own "
        "fps and memory (see docs/benchmarks.md).",
    )
    b.add_argument("--json", action="store_true", help="print the result as one JSON object")
    b.add_argument("--frames", default="240", metavar="N", help="frames the source gives (default 240)")
    b.add_argument(
        "--source",
        default="pattern",
        metavar="pattern|FILE",
        help="the paced source: the moving test pattern at the working size, or a video file (default pattern)",
    )
    b.add_argument("--fps", default="30", metavar="F", help="the source's frame rate (default 30)")
    b.add_argument(
        "--soak",
        default=None,
        metavar="N",
        help="a long run of N frames: RSS and p95 latency sampled every 500 frames, with their growth",
    )
    b.add_argument(
        "--compare",
        action="store_true",
        help="also time, on the same model and frames, the stream without a KV cache (the window "
        "recomputed every chunk) and a per-frame img2img loop (StreamDiffusion's way)",
    )
    b.add_argument(
        "--warmup",
        default="5",
        metavar="N",
        help="frames through an untimed stream first, so one-time costs (CUDA start-up) are not timed (default 5)",
    )
    _model_options(b, bench=True)

    d = sub.add_parser(
        "doctor",
        help="what works on this machine, and how to fix what does not",
        description="Check torch, the device, the default model, attention backends, "
        "video encoders, capture backends and virtual cameras.",
    )
    d.add_argument("--model", default="default", metavar="default|PATH", help="the model to check")
    d.add_argument("--debug", action="store_true", help="show tracebacks")
    sub.add_parser("train", help="the training and distillation stages (see `train --help`)", add_help=False)
    return p


# ---- values --------------------------------------------------------------------------------------
def parse_size(text: str | None, option: str = "--size") -> tuple[int, int] | None:
    """'WxH' -> (W, H); None stays None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise CaptureError(f"{option} {text!r} is not WxH: write it like 512x320")
    w, h = int(match[1]), int(match[2])
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise CaptureError(
            f"{option} {text} is impossible: width and height must be 1 to {MAX_SIDE}, multiples of 16, e.g. 512x320"
        )
    return w, h


def parse_int(text: str | None, option: str, low: int) -> int | None:
    """A whole number >= low; None stays None."""
    return None if text is None else whole_number(text, option, low)


def whole_number(text: str, option: str, low: int) -> int:
    """A whole number >= low, for an option that always has a value (it has a default)."""
    try:
        value = int(text)
    except ValueError:
        raise CaptureError(f"{option} {text!r} is not a whole number") from None
    if value < low:
        raise CaptureError(f"{option} must be at least {low}, got {value}")
    return value


def parse_titles(text: str | None, spec: str | None) -> tuple[str, ...]:
    """--game-titles 'A, B' -> ('A', 'B'); only with --input game_window."""
    if text is None:
        return ()
    if spec != "game_window":
        raise CaptureError(
            f"--game-titles applies only to --input game_window, not {spec}: drop it, or "
            "name one window with --input window:TITLE"
        )
    titles = tuple(title.strip() for title in text.split(",") if title.strip())
    if not titles:
        raise CaptureError(f"--game-titles {text!r} names no title: write it like --game-titles 'My Game,Other'")
    return titles


def parse_camera_mode(
    size: str | None, fps: str | None, spec: str | None
) -> tuple[tuple[int, int] | None, float | None]:
    """--camera-size 'WxH' and --camera-fps 'F' -> ((W, H) or None, F or None); only with --input camera."""
    if size is None and fps is None:
        return None, None
    if spec is None or spec.split(":", 1)[0] != "camera":
        option = "--camera-size" if size is not None else "--camera-fps"
        raise CaptureError(f"{option} applies only to --input camera[:N], not {spec}: drop it")
    mode = None
    if size is not None:
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not match or not (0 < int(match[1]) <= MAX_SIDE and 0 < int(match[2]) <= MAX_SIDE):
            raise CaptureError(f"--camera-size {size!r} is not WxH with sides 1 to {MAX_SIDE}: write it like 1280x720")
        mode = int(match[1]), int(match[2])
    rate = None if fps is None else parse_in_range(fps, "--camera-fps", 0.0, 240.0, False, "frames per second", "30")
    return mode, rate


def parse_in_range(
    text: str, option: str, low: float, high: float, low_inclusive: bool, meaning: str, example: str
) -> float:
    """A number in [low, high] ((low, high] unless low_inclusive); the errors name the option, the range and
    what the ends mean."""
    span = f"{'[' if low_inclusive else '('}{low:g}, {high:g}]"
    try:
        value = float(text)
    except ValueError:
        raise CaptureError(f"{option} {text!r} is not a number: give one in {span}, e.g. {example}") from None
    above_low = value >= low if low_inclusive else value > low  # False for NaN as well
    if not (above_low and value <= high):
        raise CaptureError(f"{option} must be in {span} ({meaning}), got {text}")
    return value


def parse_fraction(text: str, option: str, zero_ok: bool, meaning: str, example: str) -> float:
    """A number in [0, 1] (zero_ok) or (0, 1]."""
    return parse_in_range(text, option, 0.0, 1.0, zero_ok, meaning, example)


def parse_noise_refresh(text: str | None) -> float | None:
    """None, or a share of fresh noise in [0, 1]."""
    if text is None:
        return None
    return parse_fraction(text, "--noise-refresh", True, "1 = fresh noise every chunk, 0 = fixed", "0.3")


def parse_sink_refresh(text: str | None) -> float | None:
    """None, or a cosine-similarity threshold in [-1, 1]."""
    if text is None:
        return None
    return parse_in_range(text, "--sink-refresh", -1.0, 1.0, True, "a cosine similarity; -1 = never", "0.2")


def parse_strength(text: str) -> float:
    """A strength in (0, 1]."""
    return parse_fraction(text, "--strength", False, "0 would keep the input, 1 ignores it", "0.7")


# ---- the model -----------------------------------------------------------------------------------
def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise CaptureError(
            f"--device cuda: torch {torch.__version__} ({build}) sees no CUDA GPU: "
            "use --device cpu, or install a CUDA build of torch and the NVIDIA driver"
        )
    return name


def load_model(spec: str, device: str) -> ModelBundle:
    """load_bundle with its CheckpointError turned into a one-line user error."""
    import torch

    from v2v.models.bundle import load_bundle
    from v2v.models.loading import CheckpointError

    if spec != "default" and not spec.startswith("random:") and not os.path.exists(spec):
        raise CaptureError(f"--model {spec} does not exist: pass --model default or a model folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # bf16 on a GPU, as the Wan/CausVid weights are released; float32 on the CPU
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            bundle = load_bundle(spec, device=device, dtype=dtype)
        except CheckpointError as e:  # the error says it all; torch's warnings about the same file would not
            hint = (
                "; the default model is built by `python -m v2v train all` (or pass --model PATH)"
                if spec == "default" and "train" not in str(e)
                else ""
            )
            raise CaptureError(f"cannot load model {spec}: {e}{hint}") from e
    for w in caught:  # a model that loads keeps its warnings
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return bundle


def size_multiple(bundle: ModelBundle) -> int:
    """Sizes the model accepts are multiples of this (VAE downsampling x DiT patch)."""
    return bundle.vae.spatial_factor * bundle.dit.config.patch_size[1]


def prepare_model(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[ModelBundle, EngineConfig]:
    """Load the model named by the options and check the steps and the size against it."""
    from v2v.engine import EngineConfig

    strength = parse_strength(args.strength)
    steps = parse_int(args.steps, "--steps", 1)
    seed = whole_number(args.seed, "--seed", 0)
    refresh = parse_noise_refresh(args.noise_refresh)
    sink_refresh = parse_sink_refresh(args.sink_refresh)
    bundle = load_model(args.model, resolve_device(args.device))
    if args.compile:
        bundle.dit.compile_blocks()
    schedule = len(bundle.sampling.timesteps)
    if steps is not None and steps > schedule:
        raise CaptureError(f"--steps {steps} is more than model {bundle.name} has: give 1 to {schedule}")
    m = size_multiple(bundle)
    if size is not None and (size[0] % m or size[1] % m):
        raise CaptureError(
            f"--size {size[0]}x{size[1]} does not suit model {bundle.name}: width and height "
            f"must be multiples of {m}, e.g. {max(m, size[0] // m * m)}x{max(m, size[1] // m * m)}"
        )
    return bundle, EngineConfig(
        prompt=args.prompt,
        strength=strength,
        steps=steps,
        seed=seed,
        clean_pass=args.clean_pass,
        noise_refresh=refresh,
        sink_refresh=sink_refresh,
    )


def make_engine(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[ModelBundle, StreamEngine]:
    """`prepare_model`, then a StreamEngine on it."""
    from v2v.engine import StreamEngine

    bundle, config = prepare_model(args, size)
    return bundle, StreamEngine(bundle, config)


def _check_values(args: argparse.Namespace) -> tuple[int, int] | None:
    """Check the model options that need no model, before anything is opened."""
    if args.model.startswith("random:") and args.command != "bench":
        raise CaptureError(
            f"--model {args.model}: random weights restyle nothing; they only time an architecture "
            f"with `{PROG} bench --model {args.model}`. Pass --model default or a model folder"
        )
    parse_strength(args.strength)
    parse_int(args.steps, "--steps", 1)
    parse_int(args.seed, "--seed", 0)
    return parse_size(args.size)


# ---- commands ------------------------------------------------------------------------------------
def _check_control_port(args: argparse.Namespace) -> int | None:
    """--control-port as a number (None: no endpoint); --control-host needs it."""
    port = parse_int(args.control_port, "--control-port", 0)
    if port is not None and port > 65535:
        raise CaptureError(f"--control-port must be 0 to 65535, got {port}")
    if args.control_host is not None and port is None:
        raise CaptureError(f"--control-host {args.control_host} needs --control-port N: give both")
    return port


def open_controls(args: argparse.Namespace, port: int | None) -> Controls:
    """The run's steering: from stdin when it is a terminal or a pipe, and over HTTP on `port`."""
    from capture.control import ControlServer, Steering, stdin_takes_commands
    from capture.runtime import Controls

    steering = Steering(args.prompt, parse_strength(args.strength))
    server = None
    if port is not None:
        server = ControlServer(
            steering, port, args.control_host or "127.0.0.1", token=os.environ.get("V2V_CONTROL_TOKEN") or None
        )
    return Controls(steering, server, stdin=stdin_takes_commands(sys.stdin))


def cmd_live(args: argparse.Namespace) -> int:
    """source → engine (restyling, or generating: --mode animate, --input none) → sinks, steered from stdin
    and --control-port."""
    from capture.generate_cli import plan_live
    from capture.generator import Generator
    from capture.parent import watch_parent
    from capture.pipeline import stop_on_signals
    from capture.restyler import FrameStage, Restyler
    from capture.runtime import run_stream
    from capture.sinks import is_file_sink, open_sinks
    from capture.sources import open_source
    from capture.sources.file import VideoFileSource

    if not args.input or not args.output:
        build_parser().error(
            "--input and --output are required (or give a command: restyle, animate, generate, bench, doctor, train)"
        )
    size = _check_values(args)
    max_frames = parse_int(args.max_frames, "--max-frames", 1)
    control_port = _check_control_port(args)
    parent_pid = parse_int(args.parent_pid, "--parent-pid", 1)
    _check_obs_options(args)
    plan = plan_live(args, size)
    to_file = all(is_file_sink(output) for output in args.output)
    # into a file nothing is dropped, so an image or the pattern can stop at max_frames by itself;
    # a live sink may drop frames at the mailbox, so there the runtime counts what went in
    game_titles = parse_titles(args.game_titles, args.input)
    camera_size, camera_fps = parse_camera_mode(args.camera_size, args.camera_fps, args.input)
    source = open_source(
        args.input,
        realtime=not to_file,
        frames=max_frames if to_file else None,
        game_titles=game_titles,
        camera_size=camera_size,
        camera_fps=camera_fps,
        fps=plan.fps,
        size=plan.none_size,
    )
    sink = controls = None
    try:  # the sinks and the endpoint open before the model loads: a missing device or a bad path costs nothing
        if to_file and not source.live and source.frame_count is None and not isinstance(source, VideoFileSource):
            raise CaptureError(f"input {args.input} never ends, so the file would grow forever: pass --max-frames N")
        sink = open_sinks(
            args.output,
            size=source.size,
            fps=source.fps,
            time_base=getattr(source, "time_base", None),
            audio_from=args.input if source.has_audio and to_file else None,
            overwrite=args.overwrite,
            inputs=[args.input],
            options=args,
        )
        controls = open_controls(args, control_port)
        bundle, engine = make_engine(args, size)
    except BaseException:
        source.close()
        if sink is not None:
            sink.abort()
        if controls is not None and controls.server is not None:
            controls.server.close()
        raise
    stage: FrameStage = Restyler(engine, bundle.size, size, size_multiple(bundle))
    if plan.generating:  # a scripted prompt shows in the status like one from the controls
        steering = controls.steering
        stage = Generator(
            engine,
            bundle.size,
            size,
            size_multiple(bundle),
            animate=plan.kind == "animate",
            script=plan.script,
            on_cue=lambda prompt: steering.update(prompt=prompt),
        )
    with stop_on_signals() as stop:  # run_stream closes the source, the sinks and the endpoint, whatever happens
        if parent_pid is not None:
            watch_parent(parent_pid, stop)
        result = run_stream(source, sink, stage, stop, file_sink=to_file, max_frames=max_frames, controls=controls)
    dropped = f", {result.dropped} dropped" if result.dropped else ""
    print(
        f"{result.frames_out} frames to {', '.join(args.output)} in {result.seconds:.1f} s{dropped}"
        + (" (interrupted)" if result.interrupted else ""),
        file=sys.stderr,
    )
    return 130 if result.interrupted else 0


def cmd_animate(args: argparse.Namespace) -> int:
    """`animate IMAGE OUT`: the live form with --input IMAGE --mode animate --output OUT."""
    from capture.generate_cli import as_live_form

    return cmd_live(as_live_form(args, args.image, "animate"))


def cmd_generate(args: argparse.Namespace) -> int:
    """`generate OUT|SINK`: the live form with --input none --output OUT."""
    from capture.generate_cli import as_live_form

    return cmd_live(as_live_form(args, "none", "restyle"))


def cmd_restyle(args: argparse.Namespace) -> int:
    """file → file, or folder → folder."""
    from capture.pipeline import stop_on_signals
    from capture.restyle import plan_jobs, restyle_file
    from capture.restyler import Restyler
    from capture.sources.file import VideoFileSource, check_input_file

    size = _check_values(args)
    if os.path.isdir(args.input):
        jobs = plan_jobs(args.input, args.output, args.overwrite)
        for path, _ in jobs:
            check_input_file(path)
    else:
        VideoFileSource(args.input).close()  # a missing, empty, damaged or foreign file stops here
        jobs = plan_jobs(args.input, args.output, args.overwrite)
    bundle, engine = make_engine(args, size)
    with stop_on_signals() as stop:
        for path, out in jobs:
            restyler = Restyler(engine, bundle.size, size, size_multiple(bundle))
            result = restyle_file(path, out, restyler, stop, overwrite=args.overwrite)
            if result.frames_out:
                print(
                    f"{out}: {result.frames_out} frames in {result.seconds:.1f} s"
                    + (" (interrupted: the file has the frames done so far)" if result.interrupted else ""),
                    file=sys.stderr,
                )
            else:
                print(f"interrupted before the first frame of {path}: {out} not written", file=sys.stderr)
            if stop.is_set():
                return 130
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time the live path; print a table or JSON on stdout."""
    from capture.bench import run_live_bench
    from v2v.bench import run_bench, synthetic_frames
    from v2v.bench_compare import compare
    from v2v.engine import StreamEngine

    size = _check_values(args)
    frames = whole_number(args.frames, "--frames", 1)
    soak = parse_int(args.soak, "--soak", 1000)
    warmup = whole_number(args.warmup, "--warmup", 0)
    fps = parse_in_range(args.fps, "--fps", 0.0, 1000.0, False, "frames per second", "30")
    if args.source != "pattern" and not os.path.isfile(args.source):
        raise CaptureError(f"--source {args.source}: no such file; give pattern or a video file")
    bundle, config = prepare_model(args, size)
    size = size or bundle.size
    if warmup:
        run_bench(bundle, size, warmup, config)
    result = run_live_bench(
        StreamEngine(bundle, config),
        bundle.name,
        str(bundle.device),
        size,
        args.source,
        frames=soak or frames,
        fps=fps,
        soak=soak is not None,
    )
    if args.compare:
        result.compare = compare(bundle, synthetic_frames(min(frames, 65), size, bundle.device), config).to_dict()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    w, h = result.size
    print(
        f"model {result.model} on {result.device}, {w}x{h}, {result.source}, "
        f"{result.frames_in} frames in, {result.frames_out} out, {result.dropped} dropped"
    )
    print(f"  fps                  {result.fps:9.1f} frames/s (the model alone: {result.model_fps:.1f})")
    print(f"  first frame          {result.first_frame_s * 1000:9.1f} ms")
    print(
        f"  latency p50/p95/p99  {result.latency_p50_ms:9.1f} / {result.latency_p95_ms:.1f} / "
        f"{result.latency_p99_ms:.1f} ms"
    )
    for name, ms in result.stages_ms.items():
        unit = "ms/frame" if name.endswith("per_frame") else "ms/chunk"
        print(f"  {name.removesuffix('_per_frame').removesuffix('_ms'):<20} {ms:9.1f} {unit}")
    print(
        f"  peak RSS             {result.peak_rss_mb:9.1f} MB"
        + (f", GPU {result.peak_gpu_mb:.0f} MB" if result.peak_gpu_mb is not None else "")
    )
    if result.kv_chunk_cost_ratio is not None:
        print(f"  chunk 200 / chunk 10 {result.kv_chunk_cost_ratio:9.2f}")
    if result.soak is not None:
        print(
            f"  soak: RSS {result.soak['rss_growth']:+.1%}, p95 latency {result.soak['latency_p95_growth']:+.1%} "
            f"from the first sample to the last ({len(result.soak['samples'])} samples)"
        )
    if result.compare is not None:
        for name, ms in result.compare["ms_per_frame"].items():
            print(f"  {name:<20} {ms:9.1f} ms/frame  ({result.compare['ratio_to_kv_cache'][name]:.2f}x ours)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Report what works here."""
    from capture.doctor import run_doctor

    return run_doctor(args.model)


def cmd_train(argv: list[str]) -> int:
    """Hand the arguments to the training command line."""
    try:
        from v2v.train.cli import main as train_main
    except ImportError as e:
        raise CaptureError(f"training is not available in this build ({e})") from e
    return train_main(argv)


def _report(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    message = " ".join(str(error).split())
    if not isinstance(error, CaptureError):
        message = f"{type(error).__name__}: {message} (run again with --debug for the traceback)"
    print(f"error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    """Run the command line; return the exit status."""
    if argv[:1] == ["train"]:
        debug = "--debug" in argv
        try:
            return cmd_train(argv[1:])
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # one line, exit 1: the command line's promise
            return _report(e, debug)
    args = build_parser().parse_args(argv)
    commands = {
        None: cmd_live,
        "restyle": cmd_restyle,
        "animate": cmd_animate,
        "generate": cmd_generate,
        "bench": cmd_bench,
        "doctor": cmd_doctor,
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line, exit 1: the command line's promise
        return _report(e, args.debug)
