"""Offline restyling, file to file (or folder to folder): every input frame gives one output frame at
the input's size, frame rate and timestamps, with the audio copied unchanged.

Output and Ctrl-C. Frames are written to a hidden temporary file beside the output
(`.NAME.partial.EXT`, see capture/sinks/file.py) that replaces the output only when it is finished.
So a failed run (a damaged input, a crash) leaves an existing output exactly as it was, and the first
Ctrl-C (or SIGTERM) ends the run cleanly: the engine is flushed, the file is finished with the frames
done so far (audio up to the last frame) and moved to the output, and the command exits 130. A second
Ctrl-C stops at once and leaves no output (an existing one stays as it was).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from tqdm import tqdm

from capture.errors import CaptureError
from capture.frame import SIZE_MULTIPLE, Frame, fit_size, frames_to_tensor, resize, tensor_to_frames
from capture.sinks import Sink
from capture.sinks.file import VIDEO_EXTENSIONS, VideoFileSink, check_output_path
from capture.sources.file import VideoFileSource

FOLDER_INPUTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


class Engine(Protocol):
    """What the pipeline needs from v2v.engine.StreamEngine."""

    def push(self, frames: torch.Tensor) -> torch.Tensor: ...

    def flush(self) -> torch.Tensor: ...


@dataclass
class RunResult:
    """What a run did."""

    frames_in: int = 0  # frames taken from the source
    frames_out: int = 0  # frames given to the sink
    dropped: int = 0  # frames the live mailbox dropped (a newer one replaced them)
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM
    seconds: float = 0.0  # wall time


class Restyler:
    """Frames in, restyled frames out, in order, each at its input frame's size and timestamps.

    The working size is `size` when given, else `fit_size(first frame, budget, multiple)`: the input's
    aspect at about the model's pixel count (see capture/frame.py).
    """

    def __init__(self, engine: Engine, budget: tuple[int, int], size: tuple[int, int] | None = None,
                 multiple: int = SIZE_MULTIPLE) -> None:
        self.engine = engine
        self.budget = budget
        self.size = size
        self.multiple = multiple
        self._waiting: deque[Frame] = deque()  # inputs whose outputs have not come out yet

    def push(self, frames: list[Frame]) -> list[Frame]:
        """Hand frames to the engine; return the restyled frames that are ready (maybe none)."""
        if not frames:
            return []
        if self.size is None:
            self.size = fit_size(frames[0].size, self.budget, self.multiple)
        self._waiting.extend(frames)
        return self._match(self.engine.push(frames_to_tensor([f.image for f in frames], self.size)))

    def flush(self) -> list[Frame]:
        """Restyle whatever the engine still holds and end its stream."""
        return self._match(self.engine.flush())

    def _match(self, out: torch.Tensor) -> list[Frame]:
        if out.numel() == 0:
            return []
        if out.shape[0] > len(self._waiting):
            raise RuntimeError(f"the engine returned {out.shape[0]} frames for {len(self._waiting)} inputs")
        images = tensor_to_frames(out, self._waiting[0].size)
        restyled = []
        for image in images:
            source = self._waiting.popleft()
            restyled.append(Frame(resize(image, source.size), source.t, source.index, source.pts))
        return restyled


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Within the block the first Ctrl-C (SIGINT) or SIGTERM sets the returned event, so the work
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
        print("\nstopping: finishing the output with the frames done so far (Ctrl-C again to abort)",
              file=sys.stderr)

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(s, handler) for s in signals]
    try:
        yield stop
    finally:
        for s, handler_before in zip(signals, previous):
            signal.signal(s, handler_before)


def _batches(frames: Iterable[Frame], n: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def process_all(source: Iterable[Frame], sink: Sink, restyler: Restyler, stop: threading.Event,
                total: int | None = None, max_frames: int | None = None, desc: str = "restyle",
                progress: bool = True, batch: int = 4) -> RunResult:
    """Every frame of `source` through `restyler` into `sink`, no dropping; stops early on `stop` or
    after `max_frames`. Closes the sink (a file gets audio to the end only when the source ended)."""
    result, start = RunResult(), time.monotonic()
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    bar = tqdm(total=total, unit="frame", desc=desc, disable=not progress, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.1)
    try:
        for frames in _batches(source, batch):
            if max_frames is not None:
                frames = frames[: max_frames - result.frames_in]
            for frame in restyler.push(frames):
                sink.write(frame)
                result.frames_out += 1
            result.frames_in += len(frames)
            bar.update(len(frames))
            if stop.is_set() or (max_frames is not None and result.frames_in >= max_frames):
                break
        for frame in restyler.flush():
            sink.write(frame)
            result.frames_out += 1
        result.interrupted = stop.is_set()
        ended = not result.interrupted and (max_frames is None or result.frames_in < max_frames)
        if isinstance(sink, VideoFileSink):
            sink.close(all_audio=ended)
        else:
            sink.close()
    except BaseException:
        getattr(sink, "abort", sink.close)()  # a file sink keeps an existing output as it was
        raise
    finally:
        bar.close()
    result.seconds = time.monotonic() - start
    return result


def plan_jobs(input_path: str, output_path: str, overwrite: bool) -> list[tuple[str, str]]:
    """(input, output) pairs: one file, or every video in a folder to the same name in the output
    folder (created when missing). Every output is checked before any work starts."""
    if not os.path.isdir(input_path):
        if os.path.isdir(output_path):
            name = os.path.splitext(os.path.basename(input_path))[0] + ".mp4"
            output_path = os.path.join(output_path, name)
        check_output_path(output_path, overwrite, inputs=[input_path])
        return [(input_path, output_path)]
    if os.path.exists(output_path) and not os.path.isdir(output_path):
        raise CaptureError(f"input {input_path} is a folder, so the output must be a folder too, but "
                           f"{output_path} is a file")
    if os.path.abspath(input_path) == os.path.abspath(output_path):
        raise CaptureError(f"output folder {output_path} is the input folder: choose another folder")
    names = sorted(n for n in os.listdir(input_path) if n.lower().endswith(FOLDER_INPUTS)
                   and not n.startswith("."))
    if not names:
        raise CaptureError(f"input folder {input_path} has no video files ({', '.join(FOLDER_INPUTS)})")
    parent = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(output_path):
        if not os.path.isdir(parent):
            raise CaptureError(f"output folder {parent} does not exist: create it first")
        os.mkdir(output_path)
    jobs = []
    for name in names:
        stem, ext = os.path.splitext(name)
        out = os.path.join(output_path, stem + (ext if ext.lower() in VIDEO_EXTENSIONS else ".mp4"))
        check_output_path(out, overwrite, inputs=[os.path.join(input_path, name)])
        jobs.append((os.path.join(input_path, name), out))
    return jobs


def restyle_file(input_path: str, output_path: str, restyler: Restyler, stop: threading.Event,
                 overwrite: bool = False, progress: bool = True) -> RunResult:
    """Restyle one video file into `output_path` (see the module docstring for Ctrl-C)."""
    source = VideoFileSource(input_path)
    try:
        sink = VideoFileSink(output_path, source.size, source.fps, time_base=source.time_base,
                             audio_from=input_path if source.has_audio else None, overwrite=overwrite,
                             inputs=[input_path])
        result = process_all(source, sink, restyler, stop, total=source.frame_count,
                             desc=os.path.basename(input_path), progress=progress)
    finally:
        source.close()
    return result
