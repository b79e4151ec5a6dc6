"""Helpers of the training tests: a run's configuration, whether a file was rewritten, a tiny causal DiT."""

import json
from pathlib import Path

from tests.v2v.micro import micro_dit
from v2v.models.dit import DiT
from v2v.train.common import TrainConfig


def run_config(workdir: Path) -> TrainConfig:
    """The configuration WORKDIR/run.json holds."""
    return TrainConfig.from_json(json.loads((workdir / "run.json").read_text()))


def written(path: Path) -> tuple[int, int]:
    """(inode, mtime) of a file: checkpoints are written to a temp file and renamed, so a rewrite changes both."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def tiny_causal_dit(frames_per_block: int) -> DiT:
    """A two-layer block-causal micro DiT (tests/v2v/micro.py), its weights from the generator as it stands."""
    return micro_dit(seed=None, causal=True, frames_per_block=frames_per_block)
