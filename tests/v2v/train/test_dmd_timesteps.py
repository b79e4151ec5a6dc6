"""The timesteps at which DMD compares its two scores: CausVid's range by default, or capped (--dmd-t-max)."""

import dataclasses

import torch

from v2v.sampling import sample_train_timesteps
from v2v.train.cli import main
from v2v.train.common import DMD_T_MAX, DMD_T_MIN, TrainConfig
from v2v.train.dmd import dmd_timesteps


def test_default_is_the_shifted_law_clamped_to_causvids_range():
    config = TrainConfig()
    drawn = dmd_timesteps(4096, config, torch.Generator().manual_seed(3))
    same = sample_train_timesteps(
        [4096], config.sampling.shift, generator=torch.Generator().manual_seed(3), low=DMD_T_MIN, high=DMD_T_MAX
    )
    assert torch.equal(drawn, same)  # runs without the option draw what they drew before it existed
    assert (drawn > 600).float().mean() > 0.7  # shift 5 puts most of the comparisons at high noise


def test_a_cap_keeps_the_law_below_it_without_piling_mass_at_the_cap():
    base = TrainConfig()
    capped = dmd_timesteps(20000, dataclasses.replace(base, dmd_t_max=600.0), torch.Generator().manual_seed(4))
    assert float(capped.min()) >= DMD_T_MIN and float(capped.max()) <= 600.0
    assert (capped > 599.0).float().mean() < 0.01
    # the same shape below the cap: P(t < 300 | t <= 600) under the uncapped shifted law
    free = sample_train_timesteps([200000], base.sampling.shift, generator=torch.Generator().manual_seed(5))
    inside = free[(free >= DMD_T_MIN) & (free <= 600.0)]
    expected = float((inside < 300.0).float().mean())
    assert abs(float((capped < 300.0).float().mean()) - expected) < 0.02


def test_a_cap_outside_the_timestep_range_is_a_one_line_error(tmp_path, capsys):
    assert main(["dmd", "--workdir", str(tmp_path / "run"), "--dmd-t-max", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dmd-t-max 10.0 is a timestep") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing written
