"""`python -m v2v train pack`: the finished stages of a run as a small folder of safetensors, to carry the run to
another machine (or through a commit) and go on there with `python -m v2v train seed --from FOLDER`.

A stage checkpoint (`WORKDIR/STAGE/ckpt.pt`) holds the optimiser's moments and, for `dmd`, the critic: three to
four times the weights. A pack keeps what the later stages read, in float32 safetensors:

    pack.json              format, the run's configuration (run.json) and, per stage, its step, wall seconds, files
    vae.safetensors        `vae`: the TinyVAE (its latent mean/std are in pack.json, stages.vae.vae_config)
    decoder.safetensors    `decoder`: the TinyVAE with the fine-tuned decoder (same encoder)
    teacher.safetensors    `teacher`: the EMA of the DiT and of the prompt encoder (keys `dit.*`, `text.*`)
    ode.safetensors        `ode`: the block-causal student
    dmd.safetensors        `dmd`: the generator; dmd_ema.safetensors its EMA (what `export` ships)

Only finished stages are packed by default (a stage part-way through would lose its optimiser state, and its
step counter would promise a resume it cannot give); the log names each stage it leaves out and why. With
`--partial`, a stage in progress goes in as its whole checkpoint, `STAGE.ckpt.pt` (optimiser moments included,
read back with `torch.load(weights_only=True)`), so the seeded run resumes it exactly where it stopped; it costs
three to four times the weights. `seed` writes the packed
stages back as finished checkpoints that record `seeded_from`, so the stages after them run as in the first run.
What a pack does not hold is rebuilt: the teacher's latent cache (by `seed`, from the packed VAE), the ODE pairs
(by `ode`), the DMD critic (from the teacher, after `dmd_critic_warmup` critic-only steps, as for any seeded run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

from v2v.models.bundle import float32_cpu
from v2v.train.common import TrainConfig, ckpt_path, load_ckpt, save_ckpt, stage_steps

PACK_FORMAT = "v2v-pack/1"
PACKED_STAGES = ("vae", "decoder", "teacher", "ode", "dmd")
# stage -> {file stem: key of the stage checkpoint}
PARTS: dict[str, dict[str, str]] = {
    "vae": {"vae": "vae"},
    "decoder": {"decoder": "vae"},
    "teacher": {"teacher": "ema"},
    "ode": {"ode": "student"},
    "dmd": {"dmd": "student", "dmd_ema": "student_ema"},
}


def unfinished_reason(state: dict[str, Any] | None, config: TrainConfig, stage: str) -> str | None:
    """None when the checkpoint is a finished stage, else why not (for the log)."""
    if state is None:
        return "no checkpoint"
    if state["step"] < stage_steps(config, stage):
        return f"at step {state['step']} of {stage_steps(config, stage)}"
    if stage == "vae" and not state.get("stats_done"):
        return "its latent statistics are not measured yet"
    return None


def progress(entry: dict[str, Any]) -> str:
    """A pack.json stage entry -> 'finished' or 'in progress'."""
    return "in progress" if entry.get("in_progress") else "finished"


def pack(workdir: Path, out: Path, log: Any = print, partial: bool = False) -> dict[str, Any]:
    """Write the finished stages of `workdir` into `out` (created; its pack files are replaced), and with `partial`
    the stages in progress as whole checkpoints. -> pack.json's dict. Raises FileNotFoundError when the work
    directory has no run.json or nothing to pack."""
    run_json = workdir / "run.json"
    if not run_json.exists():
        raise FileNotFoundError(f"{workdir} has no run.json: pass the --workdir of a run")
    run = json.loads(run_json.read_text())
    config = TrainConfig.from_json(run)
    stages: dict[str, Any] = {}
    files: dict[str, dict[str, Tensor]] = {}
    whole: dict[str, dict[str, Any]] = {}
    for stage in PACKED_STAGES:
        state = load_ckpt(ckpt_path(workdir, stage))
        why = unfinished_reason(state, config, stage)
        if state is None or (why is not None and not partial):
            log(f"pack: {stage} left out ({why})")
            continue
        entry: dict[str, Any] = {"step": int(state["step"]), "seconds": float(state.get("seconds", 0.0))}
        stages[stage] = entry
        if why is not None:
            whole[stage] = state
            entry.update(in_progress=True, files=[f"{stage}.ckpt.pt"])
            log(f"pack: {stage} in progress, {why} (its whole checkpoint)")
            continue
        entry["files"] = [f"{stem}.safetensors" for stem in PARTS[stage]]
        if "vae_config" in state:
            entry["vae_config"] = state["vae_config"]
        if "seeded_from" in state:
            entry["seeded_from"] = state["seeded_from"]
        for stem, key in PARTS[stage].items():
            files[stem] = float32_cpu(state[key])
        log(f"pack: {stage} at step {entry['step']} ({entry['seconds'] / 60:.0f} min of training)")
    if not stages:
        raise FileNotFoundError(f"{workdir} has no finished stage to pack")
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.safetensors"), *out.glob("*.ckpt.pt")]:
        old.unlink()
    for stem, weights in files.items():
        save_file(weights, str(out / f"{stem}.safetensors"))
    for stage, state in whole.items():
        save_ckpt(out / f"{stage}.ckpt.pt", state)
    meta = {"format": PACK_FORMAT, "source": str(workdir), "run": run, "stages": stages}
    (out / "pack.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def is_pack(folder: Path) -> bool:
    return (folder / "pack.json").is_file()


def read_pack(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
    """-> (pack.json's dict, {file stem: weights}). Raises ValueError on another format or a missing file."""
    meta = json.loads((folder / "pack.json").read_text())
    if meta.get("format") != PACK_FORMAT:
        raise ValueError(
            f"{folder}/pack.json is format {meta.get('format')!r}, not {PACK_FORMAT}: "
            f"write it again with this version's `python -m v2v train pack`"
        )
    weights: dict[str, Any] = {}
    for stage, entry in meta["stages"].items():
        for name in entry["files"]:
            path = folder / name
            if not path.is_file():
                raise ValueError(f"{folder} lacks {name} ({stage}): copy the whole pack folder")
            weights[name.removesuffix(".safetensors")] = (
                load_ckpt(path) if name.endswith(".ckpt.pt") else load_file(str(path))
            )
    return meta, weights


def seed_checkpoints(meta: dict[str, Any], weights: dict[str, dict[str, Tensor]], source: str) -> dict[str, dict]:
    """The stage checkpoints a pack stands for: {stage: checkpoint dict}, each recording `seeded_from`."""
    out: dict[str, dict] = {}
    for stage, entry in meta["stages"].items():
        base = {"step": entry["step"], "seconds": entry["seconds"], "seeded_from": source}
        if entry.get("in_progress"):
            out[stage] = weights[f"{stage}.ckpt.pt"]  # resumes as it stood, optimiser and all
        elif stage in ("vae", "decoder"):
            out[stage] = {**base, "vae": weights[stage], "vae_config": entry["vae_config"], "stats_done": True}
        elif stage == "teacher":
            out[stage] = {**base, "model": weights["teacher"], "ema": weights["teacher"]}
        elif stage == "ode":
            out[stage] = {**base, "student": weights["ode"]}
        elif stage == "dmd":
            out[stage] = {**base, "student": weights["dmd"], "student_ema": weights["dmd_ema"]}
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m v2v train pack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workdir", required=True, help="the run folder to pack")
    p.add_argument("--out", required=True, type=Path, help="the pack folder to write (its pack files are replaced)")
    p.add_argument(
        "--partial",
        action="store_true",
        help="also pack the stages in progress, as whole checkpoints (optimiser state included: an exact "
        "resume, three to four times the weights)",
    )
    args = p.parse_args(argv)
    try:
        meta = pack(Path(args.workdir), args.out, partial=args.partial)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.out.iterdir() if f.name != "pack.json") / 2**20
    print(
        f"packed {', '.join(meta['stages'])} of {args.workdir} into {args.out} ({size:.1f} MB); go on elsewhere "
        f"with `python -m v2v train seed --from {args.out} --workdir DIR`"
    )
    return 0
