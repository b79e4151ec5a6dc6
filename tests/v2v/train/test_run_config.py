"""A run's configuration in WORKDIR/run.json: keys this version has no field for are ignored."""

import dataclasses
import json
import warnings

from v2v.train import data
from v2v.train.common import TrainConfig, load_run_config, tiny_config

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
