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

import os
import threading

from capture.errors import CaptureError
from capture.pipeline import PipelineConfig, RunResult, run_pipeline
from capture.restyler import Restyler
from capture.sinks import Sink
from capture.sinks.file import VIDEO_EXTENSIONS, VideoFileSink, check_output_path
from capture.sources import Source
from capture.sources.file import VideoFileSource
from capture.status import ProgressBar

FOLDER_INPUTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


def process_all(
    source: Source,
    sink: Sink,
    restyler: Restyler,
    stop: threading.Event,
    total: int | None = None,
    max_frames: int | None = None,
    desc: str = "restyle",
    progress: bool = True,
    batch: int = 4,
) -> RunResult:
    """Every frame of `source` through `restyler` into `sink`, no dropping (the lossless pipeline of
    capture/pipeline.py); stops early on `stop` or after `max_frames`. Closes the source and the sink
    (a file gets audio to the end only when the source ended)."""
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    bar = ProgressBar(total, desc) if progress else None
    config = PipelineConfig(lossless=True, pace=False, max_frames=max_frames, batch=batch)
    return run_pipeline(source, sink, restyler, stop, config, reporter=bar)


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
        raise CaptureError(
            f"input {input_path} is a folder, so the output must be a folder too, but {output_path} is a file"
        )
    if os.path.abspath(input_path) == os.path.abspath(output_path):
        raise CaptureError(f"output folder {output_path} is the input folder: choose another folder")
    names = sorted(n for n in os.listdir(input_path) if n.lower().endswith(FOLDER_INPUTS) and not n.startswith("."))
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


def restyle_file(
    input_path: str,
    output_path: str,
    restyler: Restyler,
    stop: threading.Event,
    overwrite: bool = False,
    progress: bool = True,
) -> RunResult:
    """Restyle one video file into `output_path` (see the module docstring for Ctrl-C)."""
    source = VideoFileSource(input_path)
    try:
        sink = VideoFileSink(
            output_path,
            source.size,
            source.fps,
            time_base=source.time_base,
            audio_from=input_path if source.has_audio else None,
            overwrite=overwrite,
            inputs=[input_path],
        )
        result = process_all(
            source, sink, restyler, stop, total=source.frame_count, desc=os.path.basename(input_path), progress=progress
        )
    finally:
        source.close()
    return result
