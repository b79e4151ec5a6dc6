"""Speed and latency of the engine on synthetic frames: pure compute, no I/O (`python -m v2v bench`
prints it). Timing lives here, never in test asserts.

Frames are pushed one at a time, as a live source would, as fast as the engine takes them, so the
numbers are the engine's own: no capture, no pacing, no display.
- first-frame latency: from pushing frame 0 until its restyled frame comes back (the first chunk's
  wait for frames is not counted: frames are all there at once);
- sustained FPS: frames out per second after the first chunk (warm caches, steady state);
- per-stage ms: means over the chunks after the first, from the engine's ChunkMetrics `*_ms` fields.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from v2v.engine import ChunkMetrics, EngineConfig, StreamEngine, sync
from v2v.models.bundle import ModelBundle

BENCH_CONFIG = EngineConfig(prompt="a landscape")  # what `run_bench` streams when given no config


@dataclass
class BenchResult:
    """One benchmark run."""

    model: str  # bundle name
    device: str  # "cpu", "cuda:0", ...
    size: tuple[int, int]  # (W, H) working size
    frames: int  # frames pushed
    chunks: int  # chunks the engine ran
    first_frame_latency_ms: float  # push of frame 0 -> its output
    first_chunk_ms: float  # the first chunk's compute (includes warm-up)
    sustained_fps: float  # output frames per second after the first chunk
    total_s: float  # wall time of the whole run
    stages_ms: dict[str, float] = field(default_factory=dict)  # mean ms per chunk of each stage
    chunk_ms: list[float] = field(default_factory=list)  # every chunk's total_ms, in order
    frames_per_chunk: float = 0.0  # mean pixel frames per chunk after the first

    @property
    def model_fps(self) -> float:
        """Frames per second of encode + DiT + decode alone, from the steady chunks' compute time."""
        steady = self.chunk_ms[1:] or self.chunk_ms
        return 1000.0 * self.frames_per_chunk / (sum(steady) / len(steady)) if steady else 0.0

    def kv_chunk_cost_ratio(self, late: int = 200, early: int = 10) -> float | None:
        """The median cost of the chunks around `late` over those around `early` (±5 chunks): 1 = a chunk costs
        the same however long the stream has run (the rolling cache's promise). None for shorter runs."""
        if len(self.chunk_ms) <= late + 5:
            return None
        a = sorted(self.chunk_ms[late - 5 : late + 6])[5]
        b = sorted(self.chunk_ms[early - 5 : early + 6])[5]
        return a / b

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        del d["chunk_ms"]
        d["model_fps"] = self.model_fps
        d["kv_chunk_cost_ratio"] = self.kv_chunk_cost_ratio()
        return d


def synthetic_frames(n: int, size: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """A deterministic moving test clip: float32 [n, 3, H, W] in [-1, 1] (a gradient and a bright
    square moving right 4 pixels per frame)."""
    w, h = size
    xs = torch.linspace(-1, 1, w, device=device)
    ys = torch.linspace(-1, 1, h, device=device)
    clip = torch.empty(n, 3, h, w, device=device)  # [T, 3, H, W]
    clip[:, 0] = xs[None, None, :]
    clip[:, 1] = ys[None, :, None]
    clip[:, 2] = -0.5
    side = max(1, h // 4)
    for i in range(n):
        x, y = (4 * i) % max(1, w - side), h // 2 - side // 2
        clip[i, :, y : y + side, x : x + side] = 1.0
    return clip


def run_bench(
    bundle: ModelBundle,
    size: tuple[int, int] | None = None,
    frames: int = 48,
    config: EngineConfig = BENCH_CONFIG,
    warmup: int = 0,
) -> BenchResult:
    """Time a StreamEngine on `frames` synthetic frames at `size` (W, H; default the model's own).

    `warmup` frames first go through a stream of their own, untimed, so that one-time costs (CUDA's
    context and kernel choice, the allocator's first blocks) fall outside the timed stream: the
    first-frame latency is then that of a new stream in a running app."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more, got {warmup}")
    size = size or bundle.size
    device = torch.device(bundle.device)
    if warmup:
        ahead = StreamEngine(bundle, config)
        for frame in synthetic_frames(warmup, size, device):  # [3, H, W] each
            ahead.push(frame[None])
        ahead.flush()
        sync(device)
    clip = synthetic_frames(frames, size, device)  # [T, 3, H, W]
    engine = StreamEngine(bundle, config)
    metrics: list[ChunkMetrics] = []
    outputs: list[tuple[float, int]] = []  # (time, frames) of every push or flush that gave frames
    sync(device)
    start = time.perf_counter()
    for i in range(frames + 1):
        out = (engine.push(clip[i : i + 1]) if i < frames else engine.flush()).cpu()  # host copy, as a sink needs
        metrics.extend(engine.metrics)
        if out.numel():
            sync(device)
            outputs.append((time.perf_counter(), out.shape[0]))
    end = time.perf_counter()
    steady = metrics[1:] or metrics
    ms_fields = [f.name for f in dataclasses.fields(metrics[0]) if f.name.endswith("_ms")]
    span = outputs[-1][0] - outputs[0][0]
    after_first = sum(n for _, n in outputs[1:])
    return BenchResult(
        model=bundle.name,
        device=str(device),
        size=(size[0], size[1]),  # a list from a caller becomes the (W, H) tuple
        frames=frames,
        chunks=len(metrics),
        first_frame_latency_ms=(outputs[0][0] - start) * 1000.0,
        first_chunk_ms=metrics[0].total_ms,
        sustained_fps=after_first / span if span > 0 else frames / (end - start),
        total_s=end - start,
        stages_ms={name: sum(getattr(m, name) for m in steady) / len(steady) for name in ms_fields},
        chunk_ms=[m.total_ms for m in metrics],
        frames_per_chunk=sum(m.frames_in for m in steady) / len(steady),
    )
