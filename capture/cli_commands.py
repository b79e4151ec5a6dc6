"""The commands: the live form, `restyle`, `animate`, `generate`, `bench`, `doctor` and `train`.

Each checks its inputs before it opens anything and before the model loads. The commands look up
`make_engine` and `size_multiple` in this module when they run, so a stand-in engine replaces
`capture.cli_commands.make_engine` (tests/plugins/obs/standin.py, bench/glass_to_glass_live.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from capture.cli_model import make_engine, prepare_model, size_multiple
from capture.cli_parser import OBS_OPTIONS, PROG, build_parser
from capture.cli_values import (
    parse_camera_mode,
    parse_in_range,
    parse_int,
    parse_size,
    parse_strength,
    parse_titles,
    whole_number,
)
from capture.errors import CaptureError

if TYPE_CHECKING:
    from capture.runtime import Controls


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


def _check_obs_options(args: argparse.Namespace) -> None:
    """The --obs-* options need --output obs."""
    given = [name for name in OBS_OPTIONS if getattr(args, name) is not None]
    if given and not any(spec.split(":", 1)[0] == "obs" for spec in args.output):
        option = "--" + given[0].replace("_", "-")
        raise CaptureError(f"{option} applies only to --output obs: add --output obs, or drop {option}")


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
