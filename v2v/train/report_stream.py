"""The report's streaming measurements (`python -m v2v train report`, sections 4 and 6): drift over one
long stream of a held-out scene with the KV cache's size, and the sustained speed of frames pushed one at a
time. Like report_sections.py they return plain numbers in small dataclasses and format no text; videos are
uint8 [T, H, W, 3] RGB, the engine gets float [T, 3, H, W] in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from v2v.engine import ChunkMetrics, EngineConfig, StreamEngine
from v2v.metrics import as_uint8_video, frame_stats, psnr, ssim, warp_error
from v2v.models.bundle import ModelBundle
from v2v.pixels import to_float
from v2v.train.data import render_styles, sample_scene, style_prompt
from v2v.train.report_sections import Video

# ---- 4: drift over a long stream ----------------------------------------------------------------------


@dataclass
class DriftResult:
    seed: int  # the held-out scene
    frames: int
    window: int
    first: dict[str, float]  # metrics over the first window
    last: dict[str, float]  # metrics over the last window
    cache_bytes_start: int  # KV cache bytes after the first chunk
    cache_bytes_end: int  # KV cache bytes after the last full chunk
    cache_frames_written: int
    cache_rebases: int
    ms_per_frame_first: float  # engine compute per frame over the chunks of the first window
    ms_per_frame_last: float
    seconds: float
    fresh_last: dict[str, float] = field(default_factory=dict)  # the last window's input through a fresh engine
    path: str = "pingpong"  # the camera path through the scene ("pingpong" or "forward", see measure_drift)


def stream_scene_frame(i: int, frames: int, path: str) -> int:
    """The scene frame shown at stream position i: "forward" plays frames 0..frames−1; "pingpong" plays
    forward for the first half and back again, so the last window shows the first window's frames."""
    if path == "forward":
        return i
    if path != "pingpong":
        raise ValueError(f"unknown drift path {path!r}: pingpong or forward")
    return i if i < frames // 2 else frames - 1 - i


def _window_metrics(out: Video, gt: Video) -> dict[str, float]:
    o, g = frame_stats(out), frame_stats(gt)
    m = {"ssim_to_gt": ssim(out, gt), "psnr_to_gt": psnr(out, gt)}
    for k in o:
        m[k], m[f"gt_{k}"], m[f"{k}_vs_gt"] = o[k], g[k], o[k] / max(g[k], 1e-8)
    m["warp_error"], m["gt_warp_error"] = warp_error(out), warp_error(gt)
    m["warp_error_vs_gt"] = m["warp_error"] / max(m["gt_warp_error"], 1e-8)
    return m


def measure_drift(
    bundle: ModelBundle,
    seed: int,
    frames: int,
    window: int,
    strength: float,
    source: str = "blocky",
    target: str = "realistic",
    piece: int = 64,
    push: int = 16,
    path: str = "pingpong",
) -> DriftResult:
    """One long stream of held-out scene `seed`, rendered in pieces of `piece` frames (render_styles with
    start=k, so memory stays bounded) and pushed `push` frames at a time. Only the first and the last
    `window` input/output/ground-truth frames are kept. With path "pingpong" (the default) the camera
    goes out and comes back (`stream_scene_frame`): the last window holds the same content as the first,
    so a change between them is what the stream's history did, not what the scene did."""
    W = max(2, min(window, frames // 2))
    scene = sample_scene(seed)
    engine = StreamEngine(bundle, EngineConfig(prompt=style_prompt(target), strength=strength, seed=seed))
    keep: dict[str, list[np.ndarray]] = {"out_first": [], "out_last": [], "gt_first": [], "gt_last": [], "in_last": []}
    produced, bytes_start, chunk_log = 0, None, []  # chunk_log: (first output index, frames, ms)

    def collect(out: Tensor) -> None:
        nonlocal produced
        for f in as_uint8_video(out.float().cpu()) if out.numel() else ():
            if produced < W:
                keep["out_first"].append(f)
            if produced >= frames - W:
                keep["out_last"].append(f)
            produced += 1

    def log_chunks(first_index: int) -> None:
        i = first_index
        for m in engine.metrics:
            chunk_log.append((i, m.frames_out, m.total_ms))
            i += m.frames_out

    t0 = time.perf_counter()
    for k in tqdm(range(0, frames, piece), desc=f"drift stream ({frames} frames)", leave=False):
        n = min(piece, frames - k)
        shown = [stream_scene_frame(i, frames, path) for i in range(k, k + n)]
        lo = min(shown)
        rendered = render_styles(scene, (source, target), max(shown) - lo + 1, bundle.size, start=lo)
        r = {st: rendered[st][[f - lo for f in shown]] for st in (source, target)}  # [n, H, W, 3] each
        for j in range(n):
            if k + j < W:
                keep["gt_first"].append(r[target][j])
            if k + j >= frames - W:
                keep["gt_last"].append(r[target][j])
                keep["in_last"].append(r[source][j])
        x = to_float(r[source])  # [T, 3, H, W]
        bounds = [*range(0, n, push), n] if k else [0, *range(1, n, push), n]  # frame 0 alone: the first chunk
        for j, j_next in zip(bounds[:-1], bounds[1:], strict=True):
            before = produced
            collect(engine.push(x[j:j_next]))
            log_chunks(before)
            if bytes_start is None and engine.cache is not None:
                bytes_start = engine.cache.nbytes()
    cache = engine.cache
    assert cache is not None, "the drift stream ran no chunk"
    bytes_end, written, rebases = cache.nbytes(), cache.frames_written, cache.rebases
    before = produced
    collect(engine.flush())
    log_chunks(before)
    seconds = time.perf_counter() - t0
    assert produced == frames, f"the stream gave {produced} frames for {frames} inputs"

    def ms_per_frame(lo: int, hi: int) -> float:
        sel = [(n, ms) for i, n, ms in chunk_log if n and lo <= i < hi]
        return sum(ms for _, ms in sel) / max(sum(n for n, _ in sel), 1)

    stack = {k: np.stack(v) for k, v in keep.items()}
    # control: the same last input frames through a fresh engine, so that what the stream's history did
    # (drift) can be told apart from what the scene's content at the end does
    fresh = StreamEngine(bundle, EngineConfig(prompt=style_prompt(target), strength=strength, seed=seed))
    x = to_float(stack["in_last"])  # [T, 3, H, W]
    outs = [fresh.push(x[j : j + push]) for j in range(0, W, push)] + [fresh.flush()]
    fresh_out = as_uint8_video(torch.cat([o for o in outs if o.numel()]).float().cpu())  # [W, H, W, 3]
    return DriftResult(
        fresh_last=_window_metrics(fresh_out, stack["gt_last"]),
        seed=seed,
        frames=frames,
        window=W,
        first=_window_metrics(stack["out_first"], stack["gt_first"]),
        last=_window_metrics(stack["out_last"], stack["gt_last"]),
        cache_bytes_start=int(bytes_start or 0),
        cache_bytes_end=bytes_end,
        cache_frames_written=written,
        cache_rebases=rebases,
        ms_per_frame_first=ms_per_frame(0, W),
        ms_per_frame_last=ms_per_frame(frames - W, frames),
        seconds=seconds,
        path=path,
    )


# ---- 6: speed ------------------------------------------------------------------------------------------


@dataclass
class SpeedResult:
    threads: int  # torch CPU threads during the measurement
    frames: int  # frames pushed, one at a time
    sustained_fps: float  # output frames per second after the first chunk
    first_frame_ms: float  # push of frame 0 into a fresh engine -> its restyled frame
    first_chunk_ms: float
    stages_ms_per_frame: dict[str, float]  # mean ms per frame of each stage over the chunks after the first
    load_average: tuple[float, float, float]  # 1/5/15-minute load of the machine when it ran
    other_cpu: float | None = None  # CPU cores other processes used on average during the timing (None: unknown)
    dtype: str = "float32"  # the model's number format while timed


def _busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (Linux /proc/stat), None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure_speed(
    bundle: ModelBundle, clip: Video, prompt: str, strength: float, threads: int, warmup: int = 9
) -> SpeedResult:
    """Frames pushed one at a time, as a live source would, as fast as the engine takes them. A short
    warm-up stream runs first (lazy initialisation), then a fresh engine is timed on `clip`."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = to_float(clip)  # [T, 3, H, W]
        warm = StreamEngine(bundle, EngineConfig(prompt=prompt, strength=strength, seed=1))
        for i in range(min(warmup, len(x))):
            warm.push(x[i : i + 1])
        warm.flush()
        engine = StreamEngine(bundle, EngineConfig(prompt=prompt, strength=strength, seed=0))
        outputs, chunks = [], []  # outputs: (time, frames) of every push that gave frames
        busy0, own0 = _busy_seconds(), time.process_time()
        start = time.perf_counter()
        for i in range(len(x)):
            out = engine.push(x[i : i + 1])
            chunks += engine.metrics
            if out.numel():
                outputs.append((time.perf_counter(), out.shape[0]))
        wall, busy1, own1 = time.perf_counter() - start, _busy_seconds(), time.process_time()
    finally:
        torch.set_num_threads(previous)
    other = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
    span = outputs[-1][0] - outputs[0][0]
    after_first = sum(n for _, n in outputs[1:])
    steady = [m for m in chunks[1:] if not m.skipped] or chunks
    frames = sum(m.frames_in for m in steady)
    names = [f.name for f in dataclasses.fields(ChunkMetrics) if f.name.endswith("_ms")]
    return SpeedResult(
        threads=threads,
        frames=len(x),
        sustained_fps=after_first / span if span > 0 else float("nan"),
        first_frame_ms=(outputs[0][0] - start) * 1000.0,
        first_chunk_ms=chunks[0].total_ms,
        stages_ms_per_frame={n: sum(getattr(m, n) for m in steady) / frames for n in names},
        load_average=os.getloadavg(),
        other_cpu=other,
        dtype=str(bundle.dtype).removeprefix("torch."),
    )
