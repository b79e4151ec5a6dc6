"""The timesteps at which DMD compares its two scores: the shifted training law clamped to CausVid's range."""

import torch

from v2v.sampling import sample_train_timesteps
from v2v.train.common import DMD_T_MAX, DMD_T_MIN, TrainConfig
from v2v.train.dmd import dmd_timesteps


def test_default_is_the_shifted_law_clamped_to_causvids_range():
    config = TrainConfig()
    drawn = dmd_timesteps(4096, config, torch.Generator().manual_seed(3))
    same = sample_train_timesteps(
        [4096], config.sampling.shift, generator=torch.Generator().manual_seed(3), low=DMD_T_MIN, high=DMD_T_MAX
    )
    assert torch.equal(drawn, same)
    assert float(drawn.min()) >= DMD_T_MIN and float(drawn.max()) <= DMD_T_MAX
    assert (drawn > 600).float().mean() > 0.7  # shift 5 puts most of the comparisons at high noise
