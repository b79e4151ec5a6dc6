"""One run of frames through the engine, as stages joined by mailboxes (capture/mailbox.py). The live
runtime (capture/runtime.py) and the offline restyle (capture/restyle.py) both run `run_pipeline`.

    capture stage   (thread):          source ──► inbox
    engine stage    (caller's thread): inbox ──► steering ──► Restyler or Generator ──► outbox
    delivery stage  (thread):          outbox ──► pacing ──► sinks (a FanOut writes each frame to all)

Live (`lossless=False`), the inbox holds as many frames as the engine's next chunk needs
(`FrameStage.frames_needed`), and the newest win: when the engine is slower than the source the frames it
had no time for are dropped, so the output stays close to now, and a chunk's frames are waiting when the
engine is done with the last one (a one-frame slot would make it wait for the source for all but one). Lossless,
the inbox is a short queue that makes the source wait: every frame comes out. Nothing is dropped after
the inbox. Between pushes the engine stage applies the prompt and strength that the controls changed
(capture/control.py), so a change reaches the engine before its next chunk.

The run ends when the source ends, `stop` is set (Ctrl-C, SIGTERM), `quit` is asked, a sink asks to stop
(Q in the preview), or `max_frames` frames went in: the engine is flushed, what is left is delivered and
the sinks are closed. An error in any stage ends every stage, aborts every sink (a file sink keeps an
existing output as it was) and is raised by `run_pipeline`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from capture.control import Steering
from capture.frame import Frame
from capture.mailbox import Mailbox
from capture.restyler import FrameStage
from capture.sinks import Sink
from capture.sinks.fanout import FanOut
from capture.sources import Source

POLL_S = 0.1  # how often a waiting stage looks at the stop signals


@dataclass(frozen=True)
class PipelineConfig:
    """How frames move through a run."""

    lossless: bool = False  # True: every frame goes through (the source waits); False: the newest frame wins
    pace: bool = True  # hold each output until its input's time plus the first output's latency
    max_frames: int | None = None  # stop after this many frames went into the engine (None: no limit)
    batch: int = 1  # frames per push into the engine
    queue_frames: int = 32  # capacity of the lossless inbox and of the outbox, in frames


@dataclass
class RunResult:
    """What a run did."""

    frames_in: int = 0  # frames pushed into the engine
    frames_out: int = 0  # frames given to the sinks
    dropped: int = 0  # frames the live inbox dropped (a newer one replaced them)
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM
    source_ended: bool = False  # the source ran out (not stopped, not cut by max_frames)
    seconds: float = 0.0  # wall time


class Stats:
    """Counters of a run, updated by its stages and read by the status line and GET /status. Latency
    is from the moment the capture stage took a frame from the source to its delivery to the sinks."""

    WINDOW_S = 3.0  # frames per second over this many recent seconds
    KEEP = 256  # recent deliveries and latencies kept

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames_captured = 0  # taken from the source
        self.frames_in = 0  # pushed into the engine
        self.frames_out = 0  # written to the sinks
        self.inbox: Mailbox[Frame] | None = None  # the run's inbox, for its drop count
        self._taken: OrderedDict[int, float] = OrderedDict()  # frame index -> when it was captured
        self._delivered: deque[float] = deque(maxlen=self.KEEP)
        self._latency: deque[float] = deque(maxlen=self.KEEP)  # seconds

    def captured(self, index: int) -> None:
        """Frame `index` was just taken from the source."""
        with self._lock:
            self.frames_captured += 1
            self._taken[index] = time.monotonic()
            if len(self._taken) > 4 * self.KEEP:  # frames dropped or paused away are never delivered
                self._taken.popitem(last=False)

    def delivered(self, index: int) -> None:
        """Frame `index` was just written to the sinks."""
        now = time.monotonic()
        with self._lock:
            self.frames_out += 1
            self._delivered.append(now)
            taken = self._taken.pop(index, None)
            if taken is not None:
                self._latency.append(now - taken)

    @property
    def dropped(self) -> int:
        """Frames the inbox dropped so far."""
        return self.inbox.dropped if self.inbox is not None else 0

    def snapshot(self) -> dict:
        """{"fps", "latency_p50_ms", "latency_p95_ms", "dropped", "frames", "frames_in"}; latencies are
        None before the first delivery."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._delivered if now - t <= self.WINDOW_S]
            latency = np.array(self._latency) * 1000.0
            frames_out, frames_in = self.frames_out, self.frames_in
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        p50, p95 = np.percentile(latency, (50, 95)).tolist() if latency.size else (None, None)
        return {
            "fps": (len(recent) - 1) / span if span > 0 else 0.0,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "dropped": self.dropped,
            "frames": frames_out,
            "frames_in": frames_in,
        }


class Reporter(Protocol):
    """How a run shows its progress (capture/status.py)."""

    def step(self, stats: Stats) -> None: ...  # the engine stage calls it every loop; it rate-limits itself

    def note(self, text: str) -> None: ...  # a one-line message, printed without breaking the status

    def close(self) -> None: ...


class _Pacer:
    """Holds each output frame until its input's time plus the latency of the first output; a frame
    that is late by more than `slack` seconds goes at once and shifts the schedule."""

    def __init__(self, slack: float = 0.1) -> None:
        self.slack = slack
        self._base: float | None = None  # wall time minus frame time

    def wait(self, frame: Frame, halt: threading.Event) -> None:
        now = time.monotonic()
        if self._base is None:
            self._base = now - frame.t
            return
        delay = self._base + frame.t - now
        if delay > 0:
            halt.wait(delay)
        elif -delay > self.slack:
            self._base = now - frame.t


class _Run:
    """What the stages of one run share."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        restyler: FrameStage,
        stop: threading.Event,
        config: PipelineConfig,
        steering: Steering | None,
        reporter: Reporter | None,
        stats: Stats | None,
    ) -> None:
        self.source, self.restyler, self.stop, self.config = source, restyler, stop, config
        self.sink = sink if isinstance(sink, FanOut) else FanOut([sink])
        self.steering, self.reporter = steering, reporter
        self.stats = stats or Stats()
        capacity = config.queue_frames if config.lossless else 1
        self.inbox: Mailbox[Frame] = Mailbox(max(capacity, config.batch), lossless=config.lossless)
        self.outbox: Mailbox[Frame] = Mailbox(config.queue_frames, lossless=True)
        self.stats.inbox = self.inbox
        self.halt = threading.Event()  # no more frames: set by a failure, a sink's stop, or the end
        self.errors: list[BaseException] = []
        self.source_ended = False
        self.start = time.monotonic()

    def fail(self, error: BaseException) -> None:
        """Record `error` and end every stage."""
        self.errors.append(error)
        self.halt.set()
        self.inbox.cancel()
        self.outbox.cancel()

    def ending(self) -> bool:
        """Whether the engine stage should stop taking frames."""
        quit_asked = self.steering is not None and self.steering.quit.is_set()
        return self.stop.is_set() or self.halt.is_set() or quit_asked

    def room(self) -> int | None:
        """How many more frames may go in (None: no limit)."""
        limit = self.config.max_frames
        return None if limit is None else limit - self.stats.frames_in


def _capture_stage(run: _Run) -> None:
    try:
        for frame in run.source:
            if run.halt.is_set():
                break
            run.stats.captured(frame.index)
            if not run.inbox.put(frame):
                break
    except BaseException as e:  # handed to the caller, which raises it
        run.fail(e)
    finally:
        run.inbox.close()


def _apply_steering(run: _Run) -> None:
    changes = run.steering.take_changes() if run.steering is not None else None
    if not changes:
        return
    if changes.prompt is not None:
        run.restyler.set_prompt(changes.prompt)
    if changes.strength is not None:
        run.restyler.set_strength(changes.strength)


def _take(run: _Run) -> list[Frame]:
    """The next frames for the engine, or none for now (paused, or nothing came in time)."""
    if run.steering is not None and run.steering.paused:
        if run.config.lossless:  # every frame matters: the source waits
            run.halt.wait(POLL_S)
        else:  # live: what comes while paused is not restyled
            run.inbox.get(POLL_S)
        return []
    if run.config.lossless:
        frames = run.inbox.take(run.config.batch, POLL_S)
    else:  # the newest frames that complete the next chunk, all at once
        needed = run.restyler.frames_needed()
        run.inbox.hold(needed)
        frames = run.inbox.take(needed, POLL_S)
    room = run.room()
    return frames if room is None else frames[:room]


def _engine_stage(run: _Run) -> None:
    while not run.ending():
        _apply_steering(run)
        frames = _take(run)
        if run.reporter is not None:
            run.reporter.step(run.stats)
        if not frames:
            if run.inbox.finished and not run.errors:
                run.source_ended = True
                break
            continue
        for out in run.restyler.push(frames):
            run.outbox.put(out)
        run.stats.frames_in += len(frames)
        if run.room() == 0:
            break
    if not run.errors:
        _apply_steering(run)  # a change made just before the end still reaches the last chunk
        for out in run.restyler.flush():
            run.outbox.put(out)


def _delivery_stage(run: _Run) -> None:
    pacer = _Pacer()
    try:
        while (frame := run.outbox.get(timeout=None)) is not None:
            if run.config.pace:
                pacer.wait(frame, run.halt)
            run.sink.write(frame)
            run.stats.delivered(frame.index)
            if run.sink.wants_stop:
                run.halt.set()
    except BaseException as e:  # handed to the caller, which raises it
        run.fail(e)


def _join(run: _Run, thread: threading.Thread, timeout: float | None = None) -> None:
    """Wait for `thread`; a second Ctrl-C meanwhile fails the run (which ends the thread) and waits on."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while thread.is_alive():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        try:
            thread.join(left)
        except BaseException as e:  # KeyboardInterrupt from the signal handler: stop at once
            run.fail(e)


def _shut_down(run: _Run, capture: threading.Thread, delivery: threading.Thread) -> None:
    run.halt.set()
    run.inbox.cancel()  # what is left there will not be restyled; wakes the capture stage if it waits for room
    _join(run, capture, timeout=2.0)  # let the capture stage leave the source before it is closed
    try:
        run.source.close()
    except BaseException as e:  # a failure of the capture stage like any other: the sinks are aborted
        run.fail(e)
    run.outbox.close()
    _join(run, delivery)
    if run.reporter is not None:
        run.reporter.close()


def _finish(run: _Run) -> RunResult:
    if run.errors:
        try:
            run.sink.abort()
        finally:
            raise run.errors[0]
    stopped = run.stop.is_set()
    run.sink.close(source_ended=run.source_ended and not stopped)
    s = run.stats
    return RunResult(
        frames_in=s.frames_in,
        frames_out=s.frames_out,
        dropped=s.dropped,
        interrupted=stopped,
        source_ended=run.source_ended,
        seconds=time.monotonic() - run.start,
    )


def run_pipeline(
    source: Source,
    sink: Sink,
    restyler: FrameStage,
    stop: threading.Event,
    config: PipelineConfig = PipelineConfig(),
    steering: Steering | None = None,
    reporter: Reporter | None = None,
    stats: Stats | None = None,
) -> RunResult:
    """Run `source` through `restyler` into `sink` (see the module docstring). Closes the source and
    the sink; raises the first error of any stage after aborting the sink."""
    run = _Run(source, sink, restyler, stop, config, steering, reporter, stats)
    capture = threading.Thread(target=_capture_stage, args=(run,), name="v2v-capture", daemon=True)
    delivery = threading.Thread(target=_delivery_stage, args=(run,), name="v2v-deliver", daemon=True)
    capture.start()
    delivery.start()
    try:
        _engine_stage(run)
    except BaseException as e:
        run.fail(e)
    finally:
        _shut_down(run, capture, delivery)
    return _finish(run)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Within the block the first Ctrl-C (SIGINT) or SIGTERM sets the returned event, so the run
    finishes cleanly; a second one raises KeyboardInterrupt. Outside the main thread it only yields
    an event."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping: finishing the output with the frames done so far (Ctrl-C again to abort)", file=sys.stderr)

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(s, handler) for s in signals]
    try:
        yield stop
    finally:
        for s, handler_before in zip(signals, previous, strict=True):
            signal.signal(s, handler_before)
