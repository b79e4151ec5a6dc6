"""`python -m v2v train STAGE`: the CausVid training pipeline on procedural video.

Stages (each resumes from WORKDIR/STAGE/ckpt.pt when re-run):
    vae      train the TinyVAE and measure its latent statistics
    decoder  fine-tune the TinyVAE decoder (encoder frozen): sharper, temporally steadier frames
    teacher  cache latents, train the bidirectional text-conditioned flow-matching DiT (+ prompt encoder)
    ode      teacher ODE pairs, then regression of the block-causal few-step student
    dmd      asymmetric DMD: student generator, teacher real score (CFG), trainable critic
    adapt    fine-tune the TinyVAE decoder on the student's own latents (rollouts through the engine)
    export   write the student bundle to WORKDIR/bundle (or --out; `--out default` replaces the shipped model)
    all      every stage in order
    seed     start a work directory from an exported bundle or a pack (`train seed --help`)
    pack     the finished stages of a run as a small folder, to go on elsewhere with `seed` (`train pack --help`)
    report   measure an exported model -> docs/quality.md (`train report --help`)
    gates    the restyle gates of an exported model, as a table and JSON (`train gates --help`)
`python -m v2v train --recipe FILE [--stage NAME]` runs a recipe (recipes/*.toml) stage by stage
(`train --recipe FILE --help`).
See docs/training.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch

STAGES = ("vae", "decoder", "teacher", "ode", "dmd", "adapt", "export")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m v2v train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "stage",
        choices=(*STAGES, "all"),
        help="a stage, or all of them in order; `train report --help` measures the exported model",
    )
    p.add_argument("--workdir", default="runs/default", help="run folder (checkpoints, logs, caches)")
    p.add_argument(
        "--preset",
        default="default",
        choices=("default", "tiny"),
        help="configuration for a new run (an existing run keeps its run.json)",
    )
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps of this stage")
    p.add_argument("--batch", type=int, default=None, help="clips per step of this stage")
    p.add_argument("--lr", type=float, default=None, help="learning rate of this stage")
    p.add_argument("--pairs", type=int, default=None, help="ode: number of teacher trajectories")
    p.add_argument("--scenes", type=int, default=None, help="teacher: scenes in the latent cache")
    p.add_argument("--clips", type=int, default=None, help="adapt: student rollouts to record")
    p.add_argument("--seed", type=int, default=None, help="base seed of the run")
    p.add_argument(
        "--rollout",
        choices=("parallel", "self_forcing"),
        default=None,
        help="dmd: the generator's rollout (parallel: CausVid; self_forcing: frame by frame on its own outputs)",
    )
    p.add_argument(
        "--paired-weight",
        type=float,
        default=None,
        help="dmd: weight of the paired cross-style term on generator steps (default 0.25)",
    )
    p.add_argument(
        "--paired-self-forcing",
        type=float,
        default=None,
        metavar="W",
        help="dmd: the paired weight from the switch to the self_forcing rollout on (default 0.5)",
    )
    p.add_argument(
        "--dmd-guidance",
        type=float,
        default=None,
        metavar="G",
        help="dmd: classifier-free guidance of the real score (default: the teacher's, 3.5, as the ODE pairs)",
    )
    p.add_argument(
        "--caption-short",
        type=float,
        default=None,
        metavar="P",
        help="teacher, ode, dmd: share (0 to 1) of training prompts that name the style only, as a user "
        'types one ("a cartoon landscape", "cel shaded"), instead of the scene\'s full caption '
        "(default 0.5; docs/training.md)",
    )
    p.add_argument(
        "--self-forcing-from",
        type=int,
        default=None,
        metavar="STEP",
        help="dmd: a parallel run switches to the self_forcing rollout at this step (default 1500; "
        "at or past --steps: never)",
    )
    p.add_argument(
        "--rollout-paired",
        type=float,
        default=None,
        metavar="W",
        help="dmd: weight of the ground-truth term on the generator's own video-to-video rollouts "
        "(latents and frame-to-frame change; default 1; 0 = off)",
    )
    p.add_argument(
        "--rollout-paired-from",
        type=int,
        default=None,
        metavar="STEP",
        help="dmd: the step from which the rollout-paired term applies (default 2176)",
    )
    p.add_argument(
        "--temporal-weight",
        type=float,
        default=None,
        metavar="W",
        help="adapt: weight of the frame-to-frame term on the rollouts (default 7.5; lower = sharper "
        "and more flicker, docs/training.md)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument(
        "--device",
        default="auto",
        help="where the stages train: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, "
        "cuda:N; the procedural frames are always rendered on the CPU",
    )
    p.add_argument(
        "--out",
        default=None,
        help="export: bundle folder (default WORKDIR/bundle; `default` = the shipped model, v2v/weights/default)",
    )
    return p


# command-line options (argparse dest) -> the TrainConfig field they set, whatever the stage
OPTION_FIELDS = {
    "pairs": "ode_pairs",
    "scenes": "cache_scenes",
    "clips": "adapt_clips",
    "seed": "seed",
    "rollout": "dmd_rollout",
    "paired_weight": "dmd_paired",
    "paired_self_forcing": "dmd_paired_self_forcing",
    "dmd_guidance": "dmd_guidance",
    "caption_short": "caption_short",
    "self_forcing_from": "dmd_self_forcing_from",
    "rollout_paired": "dmd_rollout_paired",
    "rollout_paired_from": "dmd_rollout_paired_from",
    "temporal_weight": "adapt_temporal",
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Per-stage command-line values -> TrainConfig field overrides."""
    from v2v.train.common import STAGE_FIELDS

    out: dict[str, Any] = {}
    if args.stage in STAGE_FIELDS:
        for value, name in zip((args.steps, args.batch, args.lr), STAGE_FIELDS[args.stage], strict=True):
            if value is not None:
                out[name] = value
    elif args.stage == "all" and any(v is not None for v in (args.steps, args.batch, args.lr)):
        raise SystemExit("error: --steps/--batch/--lr apply to one stage; run the stages one by one")
    for arg, field in OPTION_FIELDS.items():
        value = getattr(args, arg)
        if value is not None:
            out[field] = value
    return out


def run_stage(
    stage: str,
    workdir: Path,
    config: Any,
    out: str | None = None,
    device: torch.device = torch.device("cpu"),
) -> None:
    if stage == "vae":
        from v2v.train import vae_stage

        vae_stage.run(workdir, config, device)
    elif stage == "decoder":
        from v2v.train import decoder_stage

        decoder_stage.run(workdir, config, device)
    elif stage == "teacher":
        from v2v.train import teacher

        teacher.run(workdir, config, device)
    elif stage == "ode":
        from v2v.train import ode

        ode.run(workdir, config, device)
    elif stage == "dmd":
        from v2v.train import dmd

        dmd.run(workdir, config, device)
    elif stage == "adapt":
        from v2v.train import adapt_stage

        adapt_stage.run(workdir, config, device)
    elif stage == "export":
        from v2v.train import export

        folder = export.run(workdir, config, Path(out) if out else None)
        print(f"exported the student bundle to {folder} (run it with `python -m v2v --model {folder} ...`)")
    else:
        raise ValueError(f"unknown stage {stage}")


def run_stage_command(stage: str, workdir: Path, config: Any, out: str | None, device: torch.device) -> int | None:
    """`run_stage` as a command runs it: None when the stage is done (its time printed); else the exit
    status, the reason printed: 130 on Ctrl-C (the stage's checkpoint is kept: the same command resumes),
    1 when something the stage reads is missing."""
    t0 = time.monotonic()
    try:
        run_stage(stage, workdir, config, out, device)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: stage '{stage}' saved a checkpoint in {workdir / stage}; "
            "re-run the same command to resume",
            file=sys.stderr,
        )
        return 130
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"stage {stage}: done in {time.monotonic() - t0:.0f} s")
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["report"]:  # measure the exported model: its own options (see `train report --help`)
        from v2v.train.report import main as report

        return report(argv[1:])
    if any(a == "--recipe" or a.startswith("--recipe=") for a in argv):  # a recipe file, stage by stage
        from v2v.train.recipe import main as recipe

        return recipe(argv)
    if argv[:1] == ["gates"]:  # the restyle gates of an exported model (see `train gates --help`)
        from v2v.train.gates import main as gates

        return gates(argv[1:])
    if argv[:1] == ["pack"]:  # the finished stages as safetensors, to carry the run (see `train pack --help`)
        from v2v.train.pack import main as pack

        return pack(argv[1:])
    if argv[:1] == ["seed"]:  # start a work directory from an exported bundle (see `train seed --help`)
        from v2v.train.seed import main as seed

        return seed(argv[1:])
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from v2v.train.common import StageBusy, load_run_config, resolve_device, stage_lock

    if args.caption_short is not None and not 0.0 <= args.caption_short <= 1.0:
        print(f"error: --caption-short {args.caption_short} is a share: give a number from 0 to 1", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if device.type == "cuda":  # TF32 matmuls and convolutions (fp32 range, 10-bit mantissa) for the whole process
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    workdir = Path(args.workdir)
    stages = STAGES if args.stage == "all" else (args.stage,)
    with ExitStack() as held:
        try:  # before run.json takes this command's values: a running stage keeps the configuration it read
            for stage in stages:
                held.enter_context(stage_lock(workdir, stage))
        except StageBusy as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        config = load_run_config(workdir, args.preset, _overrides(args))
        for stage in stages:
            if (status := run_stage_command(stage, workdir, config, args.out, device)) is not None:
                return status
    return 0


def _env_threads() -> None:
    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


if __name__ == "__main__":
    _env_threads()
    sys.exit(main(sys.argv[1:]))
