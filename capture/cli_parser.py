"""The command line's parser: the live form's options, the option groups shared with the commands
(the model options, `--output obs`'s options) and the commands themselves. `build_parser()` also
generates docs/usage.md's option lists."""

from __future__ import annotations

import argparse
from typing import NoReturn

PROG = "python -m v2v"


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
    p.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "bfloat16"),
        help="the model's number format: auto = bfloat16 on a GPU and on a CPU with bfloat16 arithmetic "
        "(AVX512-BF16, AMX; see `doctor`), else float32 (default auto)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")


OBS_OPTIONS = ("obs_host", "obs_port", "obs_password", "obs_scene", "obs_styles", "obs_prompt_source")


def control_options(p: argparse.ArgumentParser) -> None:
    """--control-port and --control-host: the live run's HTTP control endpoint (capture/control.py)."""
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
    control_options(p)
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
