"""Training recipes (v2v/train/recipe.py, recipes/*.toml): parsed, checked, and run end to end on the tiny preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from v2v.train.common import TrainConfig
from v2v.train.recipe import RecipeError, parse

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


def test_the_default_recipe_is_the_code_defaults_and_names_every_stage() -> None:
    recipe = parse(RECIPES / "default.toml")
    default = TrainConfig()
    assert {k: v for k, v in recipe.overrides.items() if getattr(default, k) != v} == {}
    assert {"vae_steps", "teacher_steps", "ode_steps", "dmd_steps", "adapt_steps", "cache_scenes"} <= set(
        recipe.overrides
    )
    assert recipe.stages == ("vae", "decoder", "teacher", "ode", "dmd", "adapt", "export") and recipe.seed is None


def test_the_conditional_recipe_starts_from_the_shipped_bundle_and_trains_from_the_teacher() -> None:
    recipe = parse(RECIPES / "conditional.toml")
    assert recipe.seed == {"from": "default", "conditional": True}
    assert recipe.stages[0] == "teacher" and recipe.overrides["conditional"].source
    assert 0 < recipe.overrides["teacher_steps"] < TrainConfig().teacher_steps  # a fine-tune, not a teacher anew


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[teacher]\nstepz = 3\n", r"\[teacher\] stepz: not a setting"),
        ("[tacher]\nsteps = 3\n", r"unknown table \[tacher\]"),
        ("[conditional]\nsauce = true\n", r"\[conditional\] sauce: unknown"),
        ("[run]\nstages = ['vae', 'bake']\n", r"stages: bake unknown"),
        ("[run]\npreset = 'huge'\n", r"preset 'huge'"),
        ("[teacher\n", r"not valid TOML"),
    ],
)
def test_a_bad_recipe_names_what_is_wrong(tmp_path, text, message) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message):
        parse(path)


def test_a_recipe_runs_end_to_end_on_the_tiny_preset_and_resumes(tmp_path, capsys) -> None:
    from v2v.train.cli import main

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        '[run]\npreset = "tiny"\n\n[teacher]\nsteps = 4\n\n[export]\nout = "' + str(tmp_path / "b") + '"\n'
    )
    workdir = tmp_path / "run"
    assert main(["--recipe", str(recipe), "--workdir", str(workdir)]) == 0
    assert (tmp_path / "b" / "config.json").exists()
    assert json.loads((workdir / "run.json").read_text())["teacher_steps"] == 4
    capsys.readouterr()
    written = (workdir / "teacher" / "ckpt.pt").stat().st_mtime_ns
    assert main(["--recipe", str(recipe), "--workdir", str(workdir), "--stage", "teacher"]) == 0
    assert (workdir / "teacher" / "ckpt.pt").stat().st_mtime_ns == written  # finished: nothing trained again
    assert main(["--recipe", str(tmp_path / "missing.toml"), "--workdir", str(workdir)]) == 2
    assert "error: recipe" in capsys.readouterr().err
