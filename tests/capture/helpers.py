"""Shared helpers for the capture tests: real video files made with PyAV, a stand-in engine, and
running `python -m v2v` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from capture.sources.pattern import pattern_image

REPO = Path(__file__).resolve().parents[2]


def make_video(
    path: str | os.PathLike, frames: int = 12, size: tuple[int, int] = (64, 48), fps: int = 24, audio: bool = False
) -> str:
    """An H.264 file of the test pattern (frame i = pattern_image(i, size)), with an AAC sine track
    (440 Hz, mono, 44.1 kHz, as long as the video) when `audio`."""
    path = str(path)
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=44100)
            sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_image(i, size), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            rate, total = 44100, int(frames / fps * 44100)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / rate)).astype(np.float32)[None]
            for start in range(0, total, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(wave[:, start : start + 1024]), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = rate, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def decode_video(path: str | os.PathLike) -> tuple[list[np.ndarray], list[float], Fraction | None]:
    """(RGB frames, frame times in seconds, average frame rate) of a file's first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.pts * frame.time_base))
        return frames, times, stream.average_rate


def audio_packets(path: str | os.PathLike) -> list[bytes]:
    """The bytes of every audio packet of a file's first audio stream."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.dts is not None]


class IdentityEngine:
    """Stands in for StreamEngine: returns its input unchanged, in chunks of 1 frame then 4, like the
    real engine's chunking (every input frame gives one output frame, in order)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.pending: list[torch.Tensor] = []
        self.chunks = 0
        self.pushed = 0
        self.fail_after = fail_after  # raise RuntimeError once this many frames were pushed
        self.prompt, self.strength = "", 0.7
        self.chunk_prompts: list[str] = []  # the prompt each chunk ran with, in order

    def set_prompt(self, text: str) -> None:
        self.prompt = text

    def set_strength(self, strength: float) -> None:
        self.strength = strength

    def _chunk(self) -> int:
        return 1 if self.chunks == 0 else 4

    def frames_needed(self) -> int:
        return self._chunk() - len(self.pending)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        assert frames.ndim == 4 and frames.shape[1] == 3 and frames.dtype == torch.float32
        assert frames.shape[2] % 16 == 0 and frames.shape[3] % 16 == 0, tuple(frames.shape)
        assert float(frames.min()) >= -1.0 and float(frames.max()) <= 1.0
        self.pushed += frames.shape[0]
        if self.fail_after is not None and self.pushed > self.fail_after:
            raise RuntimeError("engine failure for the test")
        self.pending.extend(frames.unbind(0))
        out = []
        while len(self.pending) >= self._chunk():
            n = self._chunk()
            out.extend(self.pending[:n])
            self.pending = self.pending[n:]
            self.chunks += 1
            self.chunk_prompts.append(self.prompt)
        return torch.stack(out) if out else torch.zeros(0, *frames.shape[1:])

    def flush(self) -> torch.Tensor:
        out, self.pending, self.chunks = self.pending, [], 0
        return torch.stack(out) if out else torch.zeros(0)


def v2v_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("DISPLAY", None)
    return env


def run_v2v(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m v2v ARGS` in the repository, with one thread and no display."""
    return subprocess.run(
        [sys.executable, "-m", "v2v", *args], cwd=REPO, env=v2v_env(), capture_output=True, text=True, timeout=timeout
    )
