import json

import pytest
import torch
from torch.testing import assert_close

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import load_bundle, random_bundle, save_bundle
from v2v.models.loading import CheckpointError


def _restyle(bundle, frames):
    engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape", seed=0))
    return torch.cat([engine.push(frames), engine.flush()], 0)


def test_save_and_load_round_trip_gives_the_same_stream(tmp_path):
    bundle = random_bundle(seed=2)
    save_bundle(bundle, tmp_path / "m")
    loaded = load_bundle(tmp_path / "m")
    assert loaded.size == bundle.size and loaded.sampling == bundle.sampling
    frames = torch.rand(5, 3, 64, 64) * 2 - 1
    assert_close(_restyle(loaded, frames), _restyle(bundle, frames))


def test_missing_and_wrong_model_paths_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="needs a folder"):
        load_bundle(tmp_path / "file.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_bundle(tmp_path / "empty")


def test_damaged_bundle_parts_name_the_file(tmp_path):
    folder = save_bundle(random_bundle(), tmp_path / "m")
    data = (folder / "dit.safetensors").read_bytes()
    (folder / "dit.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="dit.safetensors"):
        load_bundle(folder)
    folder = save_bundle(random_bundle(), tmp_path / "m2")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["dit"]["dim"] = 48
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="dit.safetensors"):
        load_bundle(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        load_bundle(folder)
