"""What both sides of the StreamDiffusionV2 side-by-side share: the run's settings, the files they read, how a
side's chunk times become one result, and the clock.

Runs in three interpreters: the driver (v2v's venv), v2v's side (the same venv) and StreamDiffusionV2's side
(its own venv). So it needs only the standard library and torch.

Shape letters: B batch, T pixel frames, F latent frames, z latent channels, H/W pixels, h/w latent.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

LATENT_CHANNELS = 16  # z of Wan2.1 (and of v2v's TinyVAE): the DiT's in_dim and out_dim
SDV2_HEAD_DIM = 128  # StreamDiffusionV2 sizes its KV cache with head dim 128 (causal_stream_inference.py)
SDV2_STEPS = (700.0, 500.0, 400.0, 200.0)  # its shipped denoising_step_list, wan_causal_dmd_v2v.yaml
SDV2_TREFRESH = 50  # its live stream re-bases positions once a chunk starts past this latent frame


@dataclass(frozen=True)
class Spec:
    """One side-by-side run: the same tiny Wan-architecture student, input and streaming settings on both sides."""

    dim: int = 256  # model width C; a multiple of 128 (StreamDiffusionV2's head dim)
    ffn_dim: int = 1024  # FFN hidden width
    layers: int = 8  # transformer blocks
    text_dim: int = 4096  # prompt embedding width (umT5-XXL's)
    text_len: int = 512  # prompt tokens after padding (Wan's)
    width: int = 256  # W pixels, a multiple of 16
    height: int = 256  # H pixels, a multiple of 16
    steps: int = 2  # denoising steps per chunk, 1..4 of [700, 500, 400, 200]
    frames: int = 65  # input frames T = 1 + 4k
    strength: float = 0.8  # noise strength s (StreamDiffusionV2's default noise_scale)
    cache_frames: int = 6  # latent frames each chunk attends to, its own included (their num_kv_cache)
    sink_frames: int = 3  # of those, kept from the stream's start (their num_sink_tokens)
    sink_refresh: float = 0.2  # adaptive-sink cosine threshold (their adapt_sink_threshold; -1 never)
    repeats: int = 2  # timed streams per side, after one untimed warm-up stream
    seed: int = 0  # weights, input and noise
    device: str = "cpu"  # "cpu" or "cuda"
    dtype: str = "float32"  # "float32" or "bfloat16"
    threads: int = 0  # torch threads per side (0: torch's default)
    prompt: str = "a watercolor landscape"

    @property
    def heads(self) -> int:
        return self.dim // SDV2_HEAD_DIM

    @property
    def chunks(self) -> int:
        """k in T = 1 + 4k: latent frames after the first."""
        return (self.frames - 1) // 4

    @property
    def frame_tokens(self) -> int:
        """Tokens per latent frame: (H/8/2)·(W/8/2) with the 8x VAE and the 2x2 patch."""
        return (self.height // 16) * (self.width // 16)

    @property
    def steady_from(self) -> int:
        """The first chunk index counted as steady: caches full and StreamDiffusionV2's batch pipeline filled."""
        return self.cache_frames + self.steps

    def torch_dtype(self) -> torch.dtype:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16}[self.dtype]

    def check(self) -> None:
        """ValueError with the fix when the settings cannot run on both sides."""
        if self.dim % SDV2_HEAD_DIM or self.dim < SDV2_HEAD_DIM:
            raise ValueError(f"--dim {self.dim}: StreamDiffusionV2 caches keys with head dim 128; use 128·heads")
        if self.width % 16 or self.height % 16:
            raise ValueError(f"--size {self.width}x{self.height}: both sides need multiples of 16")
        if not 1 <= self.steps <= len(SDV2_STEPS):
            raise ValueError(f"--steps {self.steps}: choose 1 to {len(SDV2_STEPS)} (of {list(SDV2_STEPS)})")
        if not 0.2 <= self.strength <= 1.0:
            raise ValueError(f"--strength {self.strength}: choose 0.2 to 1 (the first step is 1000·s − 100)")
        if not 0 <= self.sink_frames < self.cache_frames - 1:
            raise ValueError(f"--sinks {self.sink_frames} must leave at least 2 of --cache {self.cache_frames}")
        least = 1 + 4 * (self.steady_from + 3)
        if (self.frames - 1) % 4 or self.frames < least:
            raise ValueError(f"--frames {self.frames}: use 1 + 4k frames, at least {least} for 3 steady chunks")
        if self.device not in ("cpu", "cuda") or self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"--device {self.device} --dtype {self.dtype}: choose cpu|cuda and float32|bfloat16")

    def save(self, folder: Path) -> None:
        (folder / "spec.json").write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @staticmethod
    def load(folder: Path) -> Spec:
        return Spec(**json.loads((folder / "spec.json").read_text()))


@dataclass
class ChunkTime:
    """What one chunk of a stream cost, in ms (DiT: every DiT pass of the chunk, the clean pass included)."""

    index: int  # chunk number in the stream (0: the first)
    frames_out: int  # pixel frames it gave back
    total_ms: float
    encode_ms: float = 0.0
    dit_ms: float = 0.0
    decode_ms: float = 0.0
    tail: bool = False  # a pipeline-draining call with no input chunk (StreamDiffusionV2's last steps - 1)


@dataclass
class SideResult:
    """One side's numbers: ms per output frame (whole stream, and steady state) and what a chunk does."""

    name: str
    ms_per_frame: float  # the fastest timed stream's wall time over its output frames
    steady_ms_per_frame: float  # median over the steady chunks of every timed stream: total / frames out
    steady_dit_ms_per_frame: float
    steady_encode_ms_per_frame: float
    steady_decode_ms_per_frame: float
    first_chunk_ms: float  # the first chunk of the fastest stream (frames out of it: first_chunk_frames)
    first_chunk_frames: int
    dit_passes: str  # per chunk in the steady state, e.g. "3 x batch 1" or "1 x batch 2"
    delay_chunks: int  # chunks an input chunk waits in the pipeline before it comes out
    frames_out: int
    params: int  # DiT parameters
    torch_version: str = ""
    notes: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @staticmethod
    def load(path: Path) -> SideResult:
        return SideResult(**json.loads(path.read_text()))


def summarize(
    name: str,
    streams: list[tuple[float, list[ChunkTime]]],
    spec: Spec,
    dit_passes: str,
    delay_chunks: int,
    params: int,
    notes: list[str],
) -> SideResult:
    """streams: (wall seconds, chunk times) of each timed stream -> the side's result."""
    frames = [sum(c.frames_out for c in chunks) for _, chunks in streams]
    best = min(range(len(streams)), key=lambda i: streams[i][0] / frames[i])
    steady = [c for _, chunks in streams for c in chunks if c.index >= spec.steady_from and c.frames_out and not c.tail]

    def per_frame(key: str) -> float:
        return statistics.median(getattr(c, key) / c.frames_out for c in steady)

    first = streams[best][1][0]
    return SideResult(
        name=name,
        ms_per_frame=1000.0 * streams[best][0] / frames[best],
        steady_ms_per_frame=per_frame("total_ms"),
        steady_dit_ms_per_frame=per_frame("dit_ms"),
        steady_encode_ms_per_frame=per_frame("encode_ms"),
        steady_decode_ms_per_frame=per_frame("decode_ms"),
        first_chunk_ms=first.total_ms,
        first_chunk_frames=first.frames_out,
        dit_passes=dit_passes,
        delay_chunks=delay_chunks,
        frames_out=frames[best],
        params=params,
        torch_version=torch.__version__,
        notes=notes,
    )


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; the CPU needs no wait)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Milliseconds since start(), read after the device has finished the work queued so far."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.t0 = time.perf_counter()

    def start(self) -> None:
        sync(self.device)
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        sync(self.device)
        return (time.perf_counter() - self.t0) * 1000.0


def setup_worker(spec: Spec) -> torch.device:
    """Threads, grad mode and seed of a side's process; returns its device."""
    if spec.threads:
        torch.set_num_threads(spec.threads)
    torch.set_grad_enabled(False)
    torch.manual_seed(spec.seed)
    return torch.device(spec.device)


def load_tensor(folder: Path, name: str, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """A tensor (or state dict) the driver saved: `name`.pt in `folder`, moved to `device` (and `dtype`)."""
    obj = torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        return obj
    return obj.to(device=device, dtype=dtype or obj.dtype)
