"""`python -m v2v train --recipe FILE`: a training recipe as a TOML file, run stage by stage, each resumable.

A recipe names the stages of a run and their settings, one table per stage:

    [run]          preset = "default", size = [256, 256], seed = 0, stages = [...], ...  (fields without a stage)
    [seed]         from = "default", conditional = true    (optional: start from a bundle, `train seed`)
    [autoencoder]  real = 0.5, mse = 1, ...                 (AutoencoderConfig: the vae stage's data and losses)
    [conditional]  source = true, identity = 0.2, ...       (ConditionalConfig: the source-conditioned recipe)
    [vae] [decoder] [teacher] [ode] [dmd] [adapt] [export]  (each: its settings, e.g. steps = 2500, lr = 2e-4)

A key in a stage table is the TrainConfig field `STAGE_KEY` (`[teacher] steps` is `teacher_steps`) or, where no
such field exists, the field `KEY` itself (`[teacher] caption_short`, `[dmd] gen_lr`); `[teacher] scenes` is
`cache_scenes`. `stages = [...]` in `[run]` lists the stages to run, in order (default: every stage after
the seeded ones). Unknown tables and keys are errors that name them, before any work. The recipe's values
are written into WORKDIR/run.json on every run, so the run folder always records the recipe it follows, and
each stage resumes from its checkpoint as `train STAGE` does (docs/training.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from v2v.train.common import AutoencoderConfig, ConditionalConfig, TrainConfig

STAGES = ("vae", "decoder", "teacher", "ode", "dmd", "adapt", "export")
# the first stage that trains after `[seed]`: a conditional seed writes the teacher at step 0, a plain one every
# stage up to `dmd` (which a higher `[dmd] steps` trains on)
FIRST_AFTER_SEED = {True: "teacher", False: "dmd"}
RENAMED = {("teacher", "scenes"): "cache_scenes", ("adapt", "clips"): "adapt_clips", ("ode", "pairs"): "ode_pairs"}
NESTED = {"autoencoder": AutoencoderConfig, "conditional": ConditionalConfig}
PRESETS = ("default", "tiny")  # `[run] preset`: the configuration the recipe's values apply to


class RecipeError(ValueError):
    """A recipe file that cannot be read or names something that does not exist."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A parsed recipe: the TrainConfig overrides, the seed step and the stages to run."""

    path: Path
    overrides: dict[str, Any]  # TrainConfig field -> value (nested configs as their dataclasses)
    seed: dict[str, Any] | None  # [seed]: {"from": ..., "conditional": bool} or None
    stages: tuple[str, ...]
    out: str | None  # [export] out
    preset: str = "default"  # [run] preset


def _toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise RecipeError(f"recipe {path} not found: give a TOML file such as recipes/default.toml") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe {path} is not valid TOML: {e}") from None


def _field(section: str, key: str, fields: set[str]) -> str:
    if (section, key) in RENAMED:
        return RENAMED[(section, key)]
    if section == "run":
        if key in fields:
            return key
    elif f"{section}_{key}" in fields:
        return f"{section}_{key}"
    elif key in fields and key not in NESTED and key not in {"vae", "text", "dit", "sampling"}:
        return key
    raise RecipeError(f"[{section}] {key}: not a setting of this stage (docs/training.md lists them)")


def parse(path: Path) -> Recipe:
    """Read and check a recipe file (see the module docstring) -> Recipe; RecipeError names what is wrong."""
    data = _toml(path)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    overrides: dict[str, Any] = {}
    seed: dict[str, Any] | None = None  # [seed], as Recipe.seed
    out, stages, preset = None, None, "default"
    for section, table in data.items():
        if not isinstance(table, dict):
            raise RecipeError(f"{path}: `{section}` must be a table ([{section}]), got a value")
        if section in NESTED:
            known = {f.name for f in dataclasses.fields(NESTED[section])}
            unknown = sorted(set(table) - known)
            if unknown:
                raise RecipeError(f"[{section}] {', '.join(unknown)}: unknown (known: {', '.join(sorted(known))})")
            overrides[section] = NESTED[section](**table)
        elif section == "seed":
            unknown = sorted(set(table) - {"from", "conditional"})
            if unknown:
                raise RecipeError(f"[seed] {', '.join(unknown)}: unknown (known: from, conditional)")
            seed = {"from": str(table.get("from", "default")), "conditional": bool(table.get("conditional", False))}
        elif section == "export":
            unknown = sorted(set(table) - {"out"})
            if unknown:
                raise RecipeError(f"[export] {', '.join(unknown)}: unknown (known: out)")
            out = table.get("out")
        elif section == "run" or section in STAGES:
            for key, value in table.items():
                if section == "run" and key == "stages":
                    stages = tuple(value)
                    continue
                if section == "run" and key == "preset":
                    if value not in PRESETS:
                        raise RecipeError(f"[run] preset {value!r}: expected one of {', '.join(PRESETS)}")
                    preset = value
                    continue
                name = _field(section, key, set(fields))
                overrides[name] = tuple(value) if isinstance(value, list) else value
        else:
            raise RecipeError(
                f"{path}: unknown table [{section}] (tables: run, seed, autoencoder, conditional, {', '.join(STAGES)})"
            )
    if stages is None:
        first = STAGES.index(FIRST_AFTER_SEED[seed["conditional"]]) if seed else 0
        stages = STAGES[first:]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise RecipeError(f"[run] stages: {', '.join(bad)} unknown (stages: {', '.join(STAGES)})")
    return Recipe(path, overrides, seed, stages, out, preset)


def main(argv: list[str]) -> int:
    from v2v.train.cli import run_stage_command
    from v2v.train.common import StageBusy, ckpt_path, load_run_config, resolve_device, stage_lock

    p = argparse.ArgumentParser(
        prog="python -m v2v train --recipe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--recipe", type=Path, required=True, metavar="FILE", help="the recipe (TOML)")
    p.add_argument("--workdir", default="runs/default", help="the run folder (default runs/default)")
    p.add_argument("--stage", default=None, choices=STAGES, help="run this stage of the recipe only")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    try:
        recipe = parse(args.recipe)
        device = resolve_device(args.device)
    except (RecipeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    if recipe.seed is not None and not ckpt_path(workdir, "vae").exists():
        from v2v.train.seed import seed

        try:
            seed(workdir, recipe.seed["from"], preset=recipe.preset, conditional=recipe.seed["conditional"])
        except (FileNotFoundError, FileExistsError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    stages = (args.stage,) if args.stage else recipe.stages
    for stage in stages:
        try:
            with stage_lock(workdir, stage):
                config = load_run_config(workdir, recipe.preset, recipe.overrides)
                status = run_stage_command(stage, workdir, config, recipe.out, device)
        except StageBusy as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if status is not None:
            return status
    return 0
