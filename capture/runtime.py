"""The live runtime behind `python -m v2v --input SRC --output SINK`: one run of the pipeline
(capture/pipeline.py) with its controls (capture/control.py) and its status line (capture/status.py).

    capture thread:  source ──► mailbox (the newest frames win, as many as the engine's next chunk needs)
    main thread:     mailbox ──► steering ──► Restyler or Generator (engine) ──► outbox
    delivery thread: outbox ──► pacing (the input's timing, shifted by the latency) ──► every sink

A source that is not live (a file, an image, the pattern) into file sinks only drops nothing: the
pipeline then runs lossless, with a progress bar instead of the status line. The run ends on Ctrl-C or
SIGTERM (exit 130), `quit`, a sink asking to stop (Q in the preview), the source ending (a file's end, a
window closing) or `--max-frames`; the engine is flushed, what is left is delivered, the sinks close.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from capture.control import ControlServer, StdinCommands, Steering
from capture.pipeline import PipelineConfig, Reporter, RunResult, Stats, run_pipeline
from capture.restyler import FrameStage
from capture.sinks import Sink, Steers
from capture.sinks.fanout import FanOut
from capture.sources import Source
from capture.status import ProgressBar, StatusLine


@dataclass
class Controls:
    """How a run is steered while it runs."""

    steering: Steering  # the prompt, strength and pause/quit state the engine stage follows
    server: ControlServer | None = None  # the HTTP endpoint, already listening (None: none)
    stdin: bool = False  # read commands from stdin (when it is a terminal or a pipe)
    stdin_fd: int = 0  # the descriptor to read them from


def status(stats: Stats, steering: Steering | None, source: Source, sink: Sink) -> dict:
    """The body of GET /status: the run's numbers, its steering, and what it reads and writes."""
    sinks = sink.sinks if isinstance(sink, FanOut) else [sink]
    body = stats.snapshot()
    body.update(steering.snapshot() if steering is not None else {})
    body.update(source=source.describe(), sinks=[s.describe() for s in sinks])
    return body


def _say(reporter: Reporter | None) -> Callable[[str], None]:
    if reporter is not None:
        return reporter.note
    return lambda text: print(text, file=sys.stderr, flush=True)


def _start_controls(
    controls: Controls | None, stats: Stats, source: Source, sink: Sink, reporter: Reporter | None
) -> StdinCommands | None:
    if controls is None:
        return None
    say = _say(reporter)
    if controls.server is not None:
        controls.server.start(lambda: status(stats, controls.steering, source, sink))
        say(f"control: {controls.server.url}  (GET /status, POST /control)")
    for each in sink.sinks if isinstance(sink, FanOut) else [sink]:
        if isinstance(each, Steers):  # e.g. OBS, where the scene picks the prompt
            each.steer(controls.steering, lambda: status(stats, controls.steering, source, sink), say)
    if not controls.stdin:
        return None
    return StdinCommands(controls.steering, say, controls.stdin_fd).start()


def _run(
    source: Source,
    sink: Sink,
    restyler: FrameStage,
    stop: threading.Event,
    config: PipelineConfig,
    controls: Controls | None,
    reporter: Reporter | None,
) -> RunResult:
    stats = Stats()
    stdin = None
    try:
        try:
            stdin = _start_controls(controls, stats, source, sink, reporter)
        except BaseException:  # the pipeline did not start, so it will not close them
            source.close()
            sink.abort()
            raise
        return run_pipeline(
            source, sink, restyler, stop, config, controls.steering if controls else None, reporter, stats
        )
    finally:
        if stdin is not None:
            stdin.stop()
        if controls is not None and controls.server is not None:
            controls.server.close()


def run_live(
    source: Source,
    sink: Sink,
    restyler: FrameStage,
    stop: threading.Event,
    max_frames: int | None = None,
    pace: bool = True,
    progress: bool = True,
    controls: Controls | None = None,
) -> RunResult:
    """Run source → mailbox → engine → sink with the status line (see the module docstring). Closes
    the source and the sink (and the control endpoint)."""
    steering = controls.steering if controls is not None else None
    reporter = StatusLine(steering.snapshot if steering is not None else lambda: None) if progress else None
    config = PipelineConfig(lossless=False, pace=pace, max_frames=max_frames)
    return _run(source, sink, restyler, stop, config, controls, reporter)


def run_lossless(
    source: Source,
    sink: Sink,
    restyler: FrameStage,
    stop: threading.Event,
    max_frames: int | None = None,
    progress: bool = True,
    controls: Controls | None = None,
) -> RunResult:
    """Every frame of `source` into `sink`, with a progress bar. Closes the source and the sink."""
    total = source.frame_count
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    reporter = ProgressBar(total, f"{source.name} → {sink.name}") if progress else None
    config = PipelineConfig(lossless=True, pace=False, max_frames=max_frames, batch=4)
    return _run(source, sink, restyler, stop, config, controls, reporter)


def run_stream(
    source: Source,
    sink: Sink,
    restyler: FrameStage,
    stop: threading.Event,
    file_sink: bool,
    max_frames: int | None = None,
    progress: bool = True,
    controls: Controls | None = None,
) -> RunResult:
    """A source that is not live into file sinks only drops nothing; everything else is live."""
    if not source.live and file_sink:
        return run_lossless(source, sink, restyler, stop, max_frames, progress, controls)
    return run_live(
        source, sink, restyler, stop, max_frames=max_frames, pace=not file_sink, progress=progress, controls=controls
    )
