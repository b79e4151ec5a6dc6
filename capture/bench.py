"""`python -m v2v bench`: speed and latency end to end, through the real live pipeline.

A source paced at `fps` (the test pattern by default, or a file played in real time) goes through
capture/pipeline.py exactly as a live run does, into a sink that keeps nothing but the time each frame
arrived. So the numbers are what a viewer gets:

- fps: output frames per second in steady state (after the first tenth of the outputs);
- first_frame_s: from the stream's first captured frame to its first output (the model already loaded);
- latency_p50/p95/p99_ms: each output frame's capture to its delivery;
- dropped: frames the live inbox replaced by newer ones because the engine was busy;
- stages_ms: capture and sink per frame, encode / denoise / cache / decode per chunk (the engine's own);
- model_fps: encode + DiT + decode alone (their compute per frame, no I/O, no waiting);
- peak_rss_mb (and peak_gpu_mb on a GPU); kv_chunk_cost_ratio: the 200th chunk's cost over the 10th's
  (runs of at least 205 chunks, e.g. --frames 1000);
- soak (with --soak N): RSS and p95 latency sampled every 500 frames, and their growth first to last.

Timing lives here and in docs/benchmarks.md, never in test asserts.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capture.frame import Frame
from capture.pipeline import PipelineConfig, run_pipeline
from capture.restyler import Restyler
from capture.sources import Source, open_source

SOAK_EVERY = 500  # frames between soak samples
OLD_KEYS = {"sustained_fps": "fps", "first_frame_latency_ms": None}  # names kept for one release (CHANGELOG)


class _TimedSource:
    """A source that notes when each of its frames was taken."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name, self.size, self.fps = source.name, source.size, source.fps
        self.live, self.has_audio, self.frame_count = True, False, source.frame_count
        self.taken: dict[int, float] = {}

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.source:
            self.taken[frame.index] = time.monotonic()
            yield frame

    def close(self) -> None:
        self.source.close()

    def describe(self) -> str:
        return self.source.describe()


class _TimingSink:
    """Keeps when each frame arrived and how long the write took; nothing else."""

    name = "bench"
    wants_stop = False

    def __init__(self, on_frame: Any = None) -> None:
        self.arrived: list[tuple[int, float]] = []
        self.write_s = 0.0
        self.on_frame = on_frame

    def write(self, frame: Frame) -> None:
        t = time.monotonic()
        self.arrived.append((frame.index, t))
        if self.on_frame is not None:
            self.on_frame(frame.index)
        self.write_s += time.monotonic() - t

    def close(self, source_ended: bool = True) -> None:
        """Nothing to release."""

    def abort(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        return "bench (timing only)"


class _RecordingEngine:
    """Forwards to the engine and keeps every chunk's metrics."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.chunks: list[Any] = []

    def push(self, frames: Any) -> Any:
        out = self.engine.push(frames)
        self.chunks.extend(self.engine.metrics)
        return out

    def flush(self) -> Any:
        out = self.engine.flush()
        self.chunks.extend(self.engine.metrics)
        return out

    def frames_needed(self) -> int:
        return self.engine.frames_needed()

    def set_prompt(self, text: str) -> None:
        self.engine.set_prompt(text)

    def set_strength(self, strength: float) -> None:
        self.engine.set_strength(strength)


def _rss_mb() -> float:
    """Resident memory now, in MB (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class LiveBench:
    """One end-to-end run."""

    model: str
    device: str
    size: tuple[int, int]  # working size (W, H)
    source: str
    source_fps: float
    frames_in: int
    frames_out: int
    fps: float
    first_frame_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    dropped: int
    model_fps: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    kv_chunk_cost_ratio: float | None
    stages_ms: dict[str, float] = field(default_factory=dict)
    soak: dict[str, Any] | None = None
    compare: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the previous release's key names as aliases."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["size"] = list(self.size)
        d["sustained_fps"] = self.fps
        d["first_frame_latency_ms"] = self.first_frame_s * 1000.0
        return d


def _steady_fps(times: list[float]) -> float:
    """Frames per second over the outputs after the first tenth."""
    if len(times) < 2:
        return 0.0
    start = len(times) // 10 if len(times) >= 10 else 0
    span = times[-1] - times[start]
    return (len(times) - 1 - start) / span if span > 0 else 0.0


def _soak(samples: list[tuple[int, float, float]]) -> dict[str, Any]:
    """Growth of RSS and p95 latency from the first sample to the last."""
    first, last = samples[0], samples[-1]
    return {
        "every_frames": SOAK_EVERY,
        "samples": [{"frames": n, "rss_mb": r, "latency_p95_ms": p} for n, r, p in samples],
        "rss_growth": last[1] / first[1] - 1.0,
        "latency_p95_growth": last[2] / max(first[2], 1e-9) - 1.0,
    }


def run_live_bench(
    engine: Any,
    model: str,
    device: str,
    size: tuple[int, int],
    source_spec: str = "pattern",
    frames: int = 240,
    fps: float = 30.0,
    soak: bool = False,
) -> LiveBench:
    """Run `frames` frames of `source_spec` paced at `fps` through the live pipeline and time them.
    `engine` is a StreamEngine (or anything with its push/flush/metrics); `size` is the working size."""
    capture_ms = _capture_cost(source_spec, size, fps)
    source = _TimedSource(
        open_source(
            source_spec if source_spec != "pattern" else f"pattern:{size[0]}x{size[1]}",
            realtime=True,
            frames=frames,
            fps=fps,
        )
    )
    recorder = _RecordingEngine(engine)
    restyler = Restyler(recorder, size, size)
    samples: list[tuple[int, float, float]] = []
    sink = _TimingSink()

    next_sample = [SOAK_EVERY]

    def sample(index: int) -> None:  # at the first output of each new 500 source frames
        if soak and index + 1 >= next_sample[0]:
            recent = [t - source.taken[i] for i, t in sink.arrived if i in source.taken and i > index - SOAK_EVERY]
            samples.append((index + 1, _rss_mb(), float(np.percentile(recent, 95)) * 1000.0))
            next_sample[0] = (index + 1) // SOAK_EVERY * SOAK_EVERY + SOAK_EVERY

    sink.on_frame = sample
    gpu = _gpu_reset(device)
    result = run_pipeline(source, sink, restyler, threading.Event(), PipelineConfig(lossless=False, pace=False))
    if soak and sink.arrived and (not samples or samples[-1][0] < sink.arrived[-1][0] + 1):
        # the last sample at the stream's end: under load the live inbox may drop the frames that
        # would have crossed the last multiple of SOAK_EVERY
        next_sample[0] = 0
        sample(sink.arrived[-1][0])
    latencies = np.array([t - source.taken[i] for i, t in sink.arrived if i in source.taken]) * 1000.0
    arrived = [t for _, t in sink.arrived]
    steady = [m for m in recorder.chunks if not m.skipped][1:] or recorder.chunks
    stage_names = ("encode_ms", "denoise_ms", "cache_ms", "decode_ms", "total_ms")
    stages = {n: float(np.mean([getattr(m, n) for m in steady])) for n in stage_names} if steady else {}
    compute_per_frame = (sum(m.total_ms for m in steady) / max(1, sum(m.frames_in for m in steady))) if steady else 0.0
    stages.update(capture_ms_per_frame=capture_ms, sink_ms_per_frame=1000.0 * sink.write_s / max(1, len(arrived)))
    costs = [m.total_ms for m in recorder.chunks]
    ratio = None
    if len(costs) > 205:
        ratio = float(np.median(costs[195:206]) / np.median(costs[5:16]))
    first = min(source.taken.values()) if source.taken else 0.0
    p50, p95, p99 = np.percentile(latencies, (50, 95, 99)).tolist() if latencies.size else (0.0, 0.0, 0.0)
    return LiveBench(
        model=model,
        device=device,
        size=size,
        source=source.describe(),
        source_fps=fps,
        frames_in=result.frames_in,
        frames_out=result.frames_out,
        fps=_steady_fps(arrived),
        first_frame_s=(arrived[0] - first) if arrived else 0.0,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        dropped=result.dropped,
        model_fps=1000.0 / compute_per_frame if compute_per_frame else 0.0,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mb=_gpu_peak(gpu),
        kv_chunk_cost_ratio=ratio,
        stages_ms=stages,
        soak=_soak(samples) if len(samples) >= 2 else None,
    )


def _capture_cost(spec: str, size: tuple[int, int], fps: float, n: int = 30) -> float:
    """Milliseconds to produce one frame of the source, unpaced (its own cost, without waiting)."""
    source = open_source(
        spec if spec != "pattern" else f"pattern:{size[0]}x{size[1]}", realtime=False, frames=n, fps=fps
    )
    try:
        start, count = time.perf_counter(), 0
        for _ in source:
            count += 1
            if count >= n:
                break
        return 1000.0 * (time.perf_counter() - start) / max(1, count)
    finally:
        source.close()


def _gpu_reset(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    import torch

    torch.cuda.reset_peak_memory_stats()
    return True


def _gpu_peak(on_gpu: bool) -> float | None:
    if not on_gpu:
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20
