"""The training pipeline end to end (`train all` on the tiny preset): every stage finishes and the bundle loads."""

import pytest
import torch

from tests.v2v.train.helpers import run_config
from v2v.models.bundle import load_bundle
from v2v.train import data
from v2v.train.cli import STAGES, main
from v2v.train.common import load_ckpt, stage_steps, tiny_config

TRAINED = tuple(s for s in STAGES if s != "export")


def test_every_stage_leaves_a_finished_checkpoint_and_a_log(run):
    workdir, out = run
    config = run_config(workdir)
    assert config == tiny_config(tuple(data.VOCAB))  # a new run pins the preset in run.json
    for stage in TRAINED:
        assert load_ckpt(workdir / stage / "ckpt.pt")["step"] == stage_steps(config, stage)
        assert (workdir / stage / "log.txt").is_file()
    assert load_bundle(out).size == config.size


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_every_stage_trains_on_cuda_and_the_bundle_runs_on_the_cpu(tmp_path):
    out = tmp_path / "bundle"
    assert main(["all", "--preset", "tiny", "--workdir", str(tmp_path), "--out", str(out), "--device", "cuda"]) == 0
    for stage in TRAINED:
        state = load_ckpt(tmp_path / stage / "ckpt.pt")  # loads onto the CPU whatever device wrote it
        assert state["step"] > 0
    bundle = load_bundle(out)
    assert bundle.device == torch.device("cpu")
