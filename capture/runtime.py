"""The live loop behind `python -m v2v --input SRC --output SINK`.

    capture thread:  source ──► Mailbox (one slot: the newest frame wins)
    main thread:     Mailbox ──► Restyler (engine) ──► outbox
    delivery thread: outbox ──► pacing (the input's timing, shifted by the latency) ──► sink

When the engine is slower than the source, the frames it had no time for are dropped at the mailbox,
so the output stays close to now instead of falling ever further behind. A source that is not live
(a file, an image, the pattern) into a file sink drops nothing: `run_stream` then uses the offline
pipeline of capture/restyle.py. Ctrl-C (or Q in the preview window) stops the source, flushes the
engine, delivers what is left and closes the sink.
"""

from __future__ import annotations

import queue
import sys
import threading
import time

from tqdm import tqdm

from capture.frame import Frame
from capture.restyle import Restyler, RunResult, process_all
from capture.sinks import Sink
from capture.sources import Source


class Mailbox:
    """A single slot between two threads: `put` replaces what is there (the newest frame wins),
    `get` waits for a frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Frame | None = None
        self._closed = False
        self.dropped = 0  # frames replaced before anyone took them

    def put(self, item: Frame) -> None:
        """Leave `item`, dropping the one that was waiting, if any."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def close(self) -> None:
        """No more frames will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """The waiting frame, or None after `timeout` seconds (or when closed and empty)."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    @property
    def finished(self) -> bool:
        """Closed and nothing left to take."""
        with self._cond:
            return self._closed and self._item is None


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


def run_live(source: Source, sink: Sink, restyler: Restyler, stop: threading.Event,
             max_frames: int | None = None, pace: bool = True, progress: bool = True) -> RunResult:
    """Run source → mailbox → engine → sink until the source ends, `stop` is set (Ctrl-C), the sink
    asks to stop, or `max_frames` frames went in. Closes the source and the sink."""
    result, start = RunResult(), time.monotonic()
    mailbox, outbox = Mailbox(), queue.Queue()
    halt = threading.Event()  # ends the helper threads; set by them on errors, or by the main thread
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            for frame in source:
                if halt.is_set():
                    break
                mailbox.put(frame)
        except BaseException as e:  # handed to the main thread, which raises it
            errors.append(e)
            halt.set()
        finally:
            mailbox.close()

    def deliver() -> None:
        pacer = _Pacer()
        try:
            while (frame := outbox.get()) is not None:
                if pace:
                    pacer.wait(frame, halt)
                sink.write(frame)
                result.frames_out += 1
                if sink.wants_stop:
                    halt.set()
        except BaseException as e:  # handed to the main thread, which raises it
            errors.append(e)
            halt.set()

    threads = [threading.Thread(target=capture, name="v2v-capture", daemon=True),
               threading.Thread(target=deliver, name="v2v-deliver", daemon=True)]
    for thread in threads:
        thread.start()
    bar = tqdm(total=max_frames, unit="frame", desc=f"{source.name} → {sink.name}", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        while not (stop.is_set() or halt.is_set()):
            frame = mailbox.get(timeout=0.1)
            if frame is None:
                if mailbox.finished:
                    break
                continue
            for out in restyler.push([frame]):
                outbox.put(out)
            result.frames_in += 1
            bar.update(1)
            bar.set_postfix(dropped=mailbox.dropped, refresh=False)
            if max_frames is not None and result.frames_in >= max_frames:
                break
        if not errors:
            for out in restyler.flush():
                outbox.put(out)
    except BaseException as e:
        errors.append(e)
    finally:
        halt.set()
        threads[0].join(timeout=2.0)  # let the capture thread leave the source before it is closed
        source.close()
        outbox.put(None)
        threads[1].join()
        bar.close()
    if errors:
        abort = getattr(sink, "abort", sink.close)  # a file sink keeps an existing output as it was
        abort()
        raise errors[0]
    sink.close()
    result.dropped = mailbox.dropped
    result.interrupted = stop.is_set()
    result.seconds = time.monotonic() - start
    return result


def run_stream(source: Source, sink: Sink, restyler: Restyler, stop: threading.Event, file_sink: bool,
               max_frames: int | None = None, progress: bool = True) -> RunResult:
    """A file-like source into a file drops nothing (the offline pipeline); everything else is live."""
    if not source.live and file_sink:
        try:
            return process_all(source, sink, restyler, stop, total=source.frame_count,
                               max_frames=max_frames, desc=f"{source.name} → {sink.name}",
                               progress=progress)
        finally:
            source.close()
    return run_live(source, sink, restyler, stop, max_frames=max_frames, pace=not file_sink,
                    progress=progress)
