"""The Wan2.1 presets build DiTs whose state dicts match the public checkpoints key for key."""

import json
from pathlib import Path

import pytest
import torch

from v2v.models import presets
from v2v.models.dit import DiT

REFERENCE = Path(__file__).parents[2] / "data" / "reference"


@pytest.mark.parametrize(
    "preset, name", [(presets.wan_1_3b, "wan2.1_t2v_1.3b_dit.json"), (presets.wan_14b, "wan2.1_t2v_14b_dit.json")]
)
def test_preset_matches_checkpoint_keys_and_shapes(preset, name):
    ref = json.loads((REFERENCE / name).read_text())
    with torch.device("meta"):
        model = DiT(preset())
    state = model.state_dict()
    shapes = {k: list(v.shape) for k, v in state.items()}
    assert sorted(set(shapes) - set(ref["shapes"])) == []
    assert sorted(set(ref["shapes"]) - set(shapes)) == []
    assert shapes == ref["shapes"]
    assert len(state) == ref["tensors"]
    assert model.num_params() == ref["parameters"]


def test_causal_preset_has_the_same_keys():
    with torch.device("meta"):
        teacher = DiT(presets.wan_1_3b())
        student = DiT(presets.wan_1_3b(causal=True, frames_per_block=3))
    assert list(teacher.state_dict()) == list(student.state_dict())
