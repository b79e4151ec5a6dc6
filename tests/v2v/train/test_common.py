"""Shared pieces of the stages (v2v/train/common.py): the run's configuration in run.json, and the random streams
that make a run reproducible from its seed."""

import dataclasses
import json
import warnings

import torch

from v2v.train import data
from v2v.train.cli import main
from v2v.train.common import TrainConfig, draw_seed, load_ckpt, load_run_config, tiny_config

# settings an older run.json may carry that TrainConfig has no field for
OLD_KEYS = {
    "dmd_t_max": 600.0,
    "dmd_rollout_paired_level": 0.0,
    "dmd_coarse": 16.0,
    "paired_coarse": 8.0,
    "coarse_pool": 8,
    "paired_pixel": 2.0,
    "adapt_anchor": 0.5,
    "adapt_adv": 0.5,
    "adapt_adv_start": 3,
    "adapt_disc_lr": 1e-4,
}


def test_a_run_json_with_settings_of_no_field_loads_without_a_warning(tmp_path):
    config = tiny_config(tuple(data.VOCAB))
    (tmp_path / "run.json").write_text(json.dumps({**config.to_json(), **OLD_KEYS, "ode_steps": 7}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_run_config(tmp_path, "default", {})
    assert loaded == dataclasses.replace(config, ode_steps=7)
    assert not set(OLD_KEYS) & {f.name for f in dataclasses.fields(TrainConfig)}
    assert not set(OLD_KEYS) & set(json.loads((tmp_path / "run.json").read_text()))  # rewritten without them


def test_runs_and_stages_draw_from_streams_of_their_own():
    # seed + offset + step made `--seed 1` the run of seed 0 shifted by one step, and stage A's step k the
    # draws of stage B's step k + (B's offset - A's): every (seed, stream, index) now has a seed of its own
    keys = [(seed, stream, i) for seed in (0, 1, 2) for stream in ("vae", "teacher", "ode", "dmd") for i in range(300)]
    seeds = {draw_seed(*k) for k in keys}
    assert len(seeds) == len(keys)
    assert draw_seed(0, "dmd", 7) == draw_seed(0, "dmd", 7)
    assert all(0 <= s < 2**63 for s in seeds)
    torch.Generator().manual_seed(max(seeds))  # a valid torch seed


def test_a_new_run_is_reproducible_from_its_seed(tmp_path):
    states = []
    for name in ("a", "b"):
        assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path / name)]) == 0
        states.append(load_ckpt(tmp_path / name / "vae" / "ckpt.pt")["vae"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_another_seed_is_another_run(tmp_path):
    states = []
    for seed in ("0", "1"):
        assert main(["vae", "--preset", "tiny", "--seed", seed, "--workdir", str(tmp_path / seed)]) == 0
        states.append(load_ckpt(tmp_path / seed / "vae" / "ckpt.pt")["vae"])
    assert not all(torch.equal(states[0][k], states[1][k]) for k in states[0])
