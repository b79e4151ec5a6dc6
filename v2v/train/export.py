"""Stage 5, `export`: write the runnable student bundle (v2v/models/bundle.py layout).

The student comes from the latest distillation checkpoint (`dmd`, else `ode`), the TinyVAE (with its
latent statistics) from `adapt`, else `decoder`, else `vae`, the prompt encoder from the teacher's EMA; the
sampling settings and working size from the run configuration. Weights are float32 safetensors plus
config.json. The teacher's EMA DiT is written beside them (`teacher.safetensors` + `teacher.json`, not loaded
by the engine) so that `python -m v2v train report` can compare student and teacher from a clean clone.
With the conditional recipe (`TrainConfig.conditional.source`) the student's and the teacher's DiT configs carry
source_channels, so the engine tells the student each chunk's clean latents. The bundle goes to WORKDIR/bundle
(run it with `--model WORKDIR/bundle`); the shipped model in v2v/weights/default is replaced only by an
explicit `--out default`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from v2v.models.bundle import DEFAULT_DIR, ModelBundle, save_bundle
from v2v.models.loading import config_to_dict
from v2v.train.adapt_stage import adapted_student
from v2v.train.common import TrainConfig, build_dit, build_vae, ckpt_path, frozen, load_ckpt, stage_logger
from v2v.train.decoder_stage import best_vae_state
from v2v.train.teacher import load_teacher


def student_weights(state: dict) -> dict[str, torch.Tensor]:
    """The student a checkpoint ships: the generator's EMA when the `dmd` stage kept one."""
    return state.get("student_ema", state["student"])


def build_bundle(workdir: Path, config: TrainConfig) -> tuple[ModelBundle, str]:
    """The runnable student bundle of a work directory, in memory: the student of the latest distillation
    checkpoint, the shipped TinyVAE (`best_vae_state`), the teacher's prompt encoder. -> (bundle, where the
    student came from, for the log)."""
    source = next((s for s in ("dmd", "ode") if ckpt_path(workdir, s).exists()), None)
    if source is None:
        raise FileNotFoundError(
            f"no student checkpoint in {workdir} (dmd or ode): run `python -m v2v train ode --workdir {workdir}` first"
        )
    state = load_ckpt(ckpt_path(workdir, source))
    student = build_dit(config, causal=True)
    student.load_state_dict(student_weights(state))
    vae = build_vae(config, best_vae_state(workdir))  # the decoder of `adapt`, else of `decoder`, else `vae`
    text = load_teacher(workdir, config).text
    sampling = dataclasses.replace(config.sampling)
    # the student saw at most latent_frames − 1 earlier frames in training: stream with that much context
    context = max(config.latent_frames - 1, 1)
    bundle = ModelBundle(
        dit=frozen(student),
        vae=frozen(vae),
        text=frozen(text),
        sampling=sampling,
        size=(config.size[0], config.size[1]),  # a tuple even where run.json gave a list
        name="default",
        window_frames=max(context - 1, 1),
        sink_frames=min(1, context - 1),
        sink_adjacent=True,
    )
    kind = " (EMA)" if "student_ema" in state else ""
    return bundle, f"'{source}' step {state['step']}{kind}"


def export_dir(workdir: Path, out: Path | None) -> Path:
    """Where `export` writes: WORKDIR/bundle unless told; "default" is the package's shipped model
    (v2v/weights/default), which only an explicit `--out default` replaces."""
    if out is None:
        return workdir / "bundle"
    return DEFAULT_DIR if str(out) == "default" else out


def run(workdir: Path, config: TrainConfig, out: Path | None = None) -> Path:
    log = stage_logger(workdir, "export")
    bundle, student = build_bundle(workdir, config)
    adapted_to = adapted_student(workdir)
    if adapted_to is not None and adapted_to != student:
        log.warning(
            f"export: the `adapt` decoder was tuned on the student {adapted_to}, not on {student}; "
            f"delete {workdir / 'adapt'} and run `train adapt` again"
        )
        print(
            f"warning: the decoder of `adapt` was tuned on the student {adapted_to}, this student is {student}: "
            f"delete {workdir / 'adapt'} and run `python -m v2v train adapt --workdir {workdir}` again",
            file=sys.stderr,
        )
    teacher = load_teacher(workdir, config)
    folder = save_bundle(bundle, export_dir(workdir, out))
    weights = {k: v.detach().to(torch.float32).contiguous() for k, v in teacher.dit.state_dict().items()}
    save_file(weights, str(folder / "teacher.safetensors"))
    meta = {"dit": config_to_dict(teacher.dit.config), "guidance": config.guidance}
    (folder / "teacher.json").write_text(json.dumps(meta, indent=2) + "\n")
    (folder / "teacher.safetensors").chmod(0o644)
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    log.info(f"export: student from {student} -> {folder} ({size / 1e6:.1f} MB)")
    return folder
