"""Helpers of the training tests: a run's configuration, whether a file was rewritten, a tiny causal DiT."""

import json
from pathlib import Path

from v2v.models.dit import DiT, DiTConfig
from v2v.train.common import TrainConfig


def run_config(workdir: Path) -> TrainConfig:
    """The configuration WORKDIR/run.json holds."""
    return TrainConfig.from_json(json.loads((workdir / "run.json").read_text()))


def written(path: Path) -> tuple[int, int]:
    """(inode, mtime) of a file: checkpoints are written to a temp file and renamed, so a rewrite changes both."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def tiny_causal_dit(frames_per_block: int) -> DiT:
    """A two-layer block-causal DiT of 2 latent channels, text dim 8, in eval mode."""
    config = DiTConfig(
        dim=16,
        ffn_dim=16,
        freq_dim=8,
        text_dim=8,
        in_dim=2,
        out_dim=2,
        num_heads=2,
        num_layers=2,
        text_len=4,
        causal=True,
        frames_per_block=frames_per_block,
    )
    return DiT(config).eval()
