"""`python -m v2v train seed`: start a work directory from an exported bundle or a pack instead of from nothing.

An exported bundle (`train export`, the shipped v2v/weights/default among them) holds the student, the
TinyVAE, the prompt encoder and the teacher's EMA DiT. `seed` writes them into a new work directory as
finished checkpoints of the stages they come from (`vae`, `decoder`, `teacher`, `ode`) and as the `dmd`
checkpoint at step `--dmd-step` (the student as both the generator and its EMA), then renders the
teacher's latent cache. Later stages continue from there: `train dmd --steps N` trains the student on,
`train adapt` and `train export` follow as in any run.

What a bundle does not hold starts fresh, and the log says so: the optimisers' moments, and the DMD critic,
which restarts from the teacher as it does at the start of every `dmd` stage. Every seeded checkpoint
records `seeded_from`, which is how `common.resume` knows that missing parts are expected.

`--conditional` starts the source-conditioned recipe (docs/training.md, "The source-conditioned recipe") from a
plain bundle: the teacher gets a zero-initialised source embedding, so it starts as exactly the bundle's teacher,
and its checkpoint is written at step 0, so `train teacher --steps N` fine-tunes it for N steps to see the
source; `ode`, `dmd`, `adapt` and `export` then run as in any run (the bundle's plain student is not seeded).

A pack (`train pack`, a folder with pack.json) is a run's finished stages: `seed` writes exactly those stages back
as finished checkpoints, and the pack's run configuration as run.json, so the next stage goes on as in the run
that was packed; `--preset`, `--dmd-step` and `--decoder` are for bundles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from v2v.models.bundle import DEFAULT_DIR, load_bundle
from v2v.models.tiny_vae import TinyVAE
from v2v.models.word_text import WordPromptEncoder
from v2v.train.common import (
    ConditionalConfig,
    TrainConfig,
    build_dit,
    build_text,
    ckpt_path,
    load_run_config,
    save_ckpt,
    stage_logger,
)
from v2v.train.teacher import TextToVideo, build_latent_cache

SEEDED_STAGES = ("vae", "decoder", "teacher", "ode", "dmd")
BUNDLE_DMD_STEP = 2800  # the plain recipe's `dmd_steps`: a bundle's student counts as fully distilled


def _bundle_folder(model: str) -> Path:
    folder = DEFAULT_DIR if model == "default" else Path(model)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(
            f"{folder} is not a v2v bundle (no config.json): pass a folder written by "
            f"`python -m v2v train export`, or `default`"
        )
    if not (folder / "teacher.safetensors").exists():
        raise FileNotFoundError(f"{folder} has no teacher.safetensors: `train export` writes it beside the student")
    return folder


def _decoder_weights(path: Path, vae: TinyVAE) -> dict[str, Tensor]:
    """The TinyVAE weights of `path` for the `decoder` checkpoint: same keys and shapes as the bundle's, same
    encoder (the latent space every seeded stage was trained in), so only the decoder may differ."""
    if not path.is_file():
        raise FileNotFoundError(
            f"--decoder {path}: no such file (a vae.safetensors of the same model, e.g. "
            f"the vae.safetensors a `train pack` of its run wrote before the adapt stage)"
        )
    weights, own = load_file(str(path)), vae.state_dict()
    if weights.keys() != own.keys() or any(weights[k].shape != own[k].shape for k in own):
        raise ValueError(f"--decoder {path} does not hold the TinyVAE of this bundle (other keys or shapes)")
    moved = [k for k in own if "encoder" in k and not torch.equal(weights[k], own[k])]
    if moved:
        raise ValueError(
            f"--decoder {path} has another encoder ({len(moved)} tensors differ): its latents are "
            f"not the ones the bundle's student was trained on"
        )
    return weights


def seed_pack(workdir: Path, folder: Path) -> TrainConfig:
    """Write the stages of the pack in `folder` into `workdir` as finished checkpoints, its run.json, and (when it
    holds the teacher) the latent cache. -> the run configuration."""
    from v2v.train.pack import progress, read_pack, seed_checkpoints

    meta, weights = read_pack(folder)
    taken = [s for s in meta["stages"] if ckpt_path(workdir, s).exists()]
    if taken:
        raise FileExistsError(f"{workdir} already has checkpoints for {', '.join(taken)}: seed a new work directory")
    run_json = workdir / "run.json"
    if run_json.exists() and json.loads(run_json.read_text()) != meta["run"]:
        raise FileExistsError(f"{workdir} holds another run's run.json: seed a new work directory")
    workdir.mkdir(parents=True, exist_ok=True)
    run_json.write_text(json.dumps(meta["run"], indent=1))
    config = TrainConfig.from_json(meta["run"])
    log = stage_logger(workdir, "seed")
    for stage, state in seed_checkpoints(meta, weights, str(folder)).items():
        save_ckpt(ckpt_path(workdir, stage), state)
        log.info(f"seed: {stage} at step {state['step']} ({progress(meta['stages'][stage])}) from {folder}")
    finished = [s for s, e in meta["stages"].items() if not e.get("in_progress")]
    if "vae" in finished and "teacher" in meta["stages"]:
        build_latent_cache(workdir, config, log)
    return config


def seed(
    workdir: Path,
    model: str = "default",
    dmd_step: int = BUNDLE_DMD_STEP,
    preset: str = "default",
    decoder: Path | None = None,
    conditional: bool = False,
) -> TrainConfig:
    """Write the seeded checkpoints of `model` into `workdir` (which must hold none of them yet) and render the
    latent cache. `decoder`: a vae.safetensors for the `decoder` checkpoint instead of the bundle's own (whose
    decoder `adapt` has fitted to the bundle's student; `train adapt` starts from the `decoder` checkpoint).
    -> the run configuration (run.json: the preset, with the bundle's networks, sampling and working size; its
    prompt encoder's vocabulary may be older than the data's). `conditional`: start the source-conditioned
    recipe from a plain bundle (the teacher at step 0 with a zero source embedding; no ode or dmd checkpoint).
    A pack folder goes to `seed_pack`."""
    from v2v.train.pack import is_pack

    if str(model) != "default" and is_pack(Path(model)):
        if decoder is not None:
            raise ValueError("--decoder is for bundles: a pack holds its run's own decoder stage")
        if conditional:
            raise ValueError("--conditional is for bundles: a pack holds its run's own configuration")
        return seed_pack(workdir, Path(model))
    folder = _bundle_folder(model)
    taken = [s for s in SEEDED_STAGES if ckpt_path(workdir, s).exists()]
    if taken:
        raise FileExistsError(f"{workdir} already has checkpoints for {', '.join(taken)}: seed a new work directory")
    bundle = load_bundle(folder)
    vae, text = bundle.vae, bundle.text
    if not isinstance(vae, TinyVAE) or not isinstance(text, WordPromptEncoder):
        raise ValueError(f"{folder}: a seed bundle holds a TinyVAE and a WordPromptEncoder, as `train export` writes")
    tuned = _decoder_weights(decoder, vae) if decoder is not None else None
    if conditional:  # the recipe's data speaks today's vocabulary (new styles): known words keep their embeddings
        from v2v.train.data import VOCAB

        text = text.with_vocab(tuple(dict.fromkeys((*text.config.vocab, *VOCAB))))
    parts = {
        "vae": vae.config,
        "text": text.config,
        "dit": bundle.dit.config,
        "sampling": bundle.sampling,
        "size": tuple(bundle.size),
    }
    if bundle.dit.config.source_channels or conditional:  # the run goes on with (or starts) the conditional recipe
        parts["conditional"] = ConditionalConfig(source=True)
    config = load_run_config(workdir, preset, parts)
    log = stage_logger(workdir, "seed")
    source = str(folder)
    vae_state = {
        "step": config.vae_steps,
        "vae": vae.state_dict(),
        "seconds": 0.0,
        "vae_config": dataclasses.asdict(vae.config),
        "stats_done": True,
        "seeded_from": source,
    }
    save_ckpt(ckpt_path(workdir, "vae"), vae_state)
    if tuned is not None:
        log.info(f"seed: the decoder checkpoint takes the TinyVAE of {decoder}")
    save_ckpt(
        ckpt_path(workdir, "decoder"),
        {**vae_state, "step": config.decoder_steps, "vae": tuned if tuned is not None else vae_state["vae"]},
    )
    teacher = TextToVideo(build_dit(config, causal=False), build_text(config))
    teacher.dit.load_plain(load_file(str(folder / "teacher.safetensors")))  # a source teacher: the same, exactly
    teacher.text.load_state_dict(text.state_dict())
    weights = teacher.state_dict()
    fresh = conditional and not bundle.dit.config.source_channels  # the teacher must learn to see the source
    save_ckpt(
        ckpt_path(workdir, "teacher"),
        {
            "step": 0 if fresh else config.teacher_steps,
            "model": weights,
            "ema": weights,
            "seconds": 0.0,
            "seeded_from": source,
        },
    )
    if fresh:
        log.info(
            f"seed: {source} -> {workdir}: vae, decoder (finished) and the teacher at step 0 with a zero source "
            f"embedding, for the source-conditioned recipe"
        )
        build_latent_cache(workdir, config, log)
        return config
    student = build_dit(config, causal=True)
    student.load_state_dict(bundle.dit.state_dict())
    weights = student.state_dict()
    save_ckpt(
        ckpt_path(workdir, "ode"), {"step": config.ode_steps, "student": weights, "seconds": 0.0, "seeded_from": source}
    )
    save_ckpt(
        ckpt_path(workdir, "dmd"),
        {"step": dmd_step, "student": weights, "student_ema": weights, "seconds": 0.0, "seeded_from": source},
    )
    log.info(f"seed: {source} -> {workdir}: vae, decoder, teacher, ode (finished) and dmd at step {dmd_step}")
    build_latent_cache(workdir, config, log)
    return config


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m v2v train seed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--from",
        dest="model",
        default="default",
        help="the bundle folder to start from (default: the shipped model), or a pack (`train pack`)",
    )
    p.add_argument("--workdir", required=True, help="the new run folder")
    p.add_argument(
        "--preset",
        default="default",
        choices=("default", "tiny"),
        help="the run configuration around the bundle's networks (training lengths, batch sizes)",
    )
    p.add_argument(
        "--decoder",
        type=Path,
        default=None,
        metavar="VAE.safetensors",
        help="TinyVAE weights for the `decoder` checkpoint, which `train adapt` fine-tunes (default: the "
        "bundle's, already adapted to its student; a pre-adapt decoder is the vae.safetensors that "
        "`train pack` wrote before the adapt stage)",
    )
    p.add_argument(
        "--conditional",
        action="store_true",
        help="start the source-conditioned recipe from a plain bundle: the teacher is written at step 0 "
        "with a zero source embedding, for `train teacher --steps N` to fine-tune",
    )
    p.add_argument(
        "--dmd-step",
        type=int,
        default=BUNDLE_DMD_STEP,
        help=f"the `dmd` step the bundle's student stands for (default {BUNDLE_DMD_STEP}, the plain recipe's last; "
        "0 distils an `ode` student, such as the shipped one, from the start)",
    )
    args = p.parse_args(argv)
    workdir = Path(args.workdir)
    from v2v.train.pack import is_pack, progress

    from_pack = args.model != "default" and is_pack(Path(args.model))
    try:
        config = seed(workdir, args.model, args.dmd_step, args.preset, args.decoder, args.conditional)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if from_pack:
        stages = json.loads((Path(args.model) / "pack.json").read_text())["stages"]
        said = [f"{s} {progress(e)}" for s, e in stages.items()]
        print(
            f"seeded {workdir} from the pack {args.model} ({', '.join(said)}); go on with "
            f"`python -m v2v train all --workdir {workdir}` or the next stage alone"
        )
        return 0
    if args.conditional:
        print(
            f"seeded {workdir} from {args.model} for the source-conditioned recipe; go on with "
            f"`python -m v2v train teacher --workdir {workdir} --steps N`, then ode, dmd, adapt and export"
        )
        return 0
    print(
        f"seeded {workdir} from {args.model} (dmd at step {args.dmd_step}); continue with e.g. "
        f"`python -m v2v train dmd --workdir {workdir} --steps {max(config.dmd_steps, args.dmd_step + 1)}`"
    )
    return 0
