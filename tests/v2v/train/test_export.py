"""The `export` stage (v2v/train/export.py): the bundle it writes, what it ships, where it writes."""

import shutil

import torch
from safetensors.torch import load_file

from tests.v2v.train.helpers import run_config
from v2v.models.bundle import DEFAULT_DIR, load_bundle
from v2v.train.adapt_stage import adapted_student
from v2v.train.cli import main
from v2v.train.common import load_ckpt, save_ckpt
from v2v.train.export import build_bundle


def test_export_writes_a_bundle_that_loads_and_restyles(run):
    workdir, out = run
    assert {p.name for p in out.iterdir()} >= {"config.json", "dit.safetensors", "vae.safetensors", "text.safetensors"}
    bundle = load_bundle(out)
    assert bundle.size == run_config(workdir).size and bundle.dit.config.causal
    z = bundle.vae.encode(torch.zeros(1, 3, 5, *bundle.size[::-1]))
    ctx = bundle.text.encode(["realistic"])
    flow = bundle.dit(z, torch.full((1, 2), 500.0), ctx)
    assert flow.shape == z.shape and torch.isfinite(flow).all()
    assert len(bundle.vae.config.latent_std) == bundle.vae.z_dim


def test_export_ships_the_dmd_ema_and_the_adapted_decoder(run):
    workdir, out = run
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    moved = [k for k in state["student"] if not torch.equal(state["student"][k], state["student_ema"][k])]
    assert moved  # the EMA lags the generator
    shipped = load_file(str(out / "dit.safetensors"))
    assert shipped.keys() == state["student_ema"].keys()
    for k in shipped:
        torch.testing.assert_close(shipped[k], state["student_ema"][k])
    adapted = load_ckpt(workdir / "adapt" / "ckpt.pt")["vae"]
    vae = load_bundle(out).vae.state_dict()
    assert all(torch.equal(vae[k], adapted[k]) for k in vae)


def test_export_warns_when_the_decoder_was_adapted_to_another_student(run_copy, tmp_path, capsys):
    workdir, _ = run_copy
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    state["step"] += 3  # the student trained on after `adapt` recorded its rollouts
    state["student_ema"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["student_ema"].items()}
    save_ckpt(workdir / "dmd" / "ckpt.pt", state)
    capsys.readouterr()
    assert main(["export", "--workdir", str(workdir), "--out", str(tmp_path / "b")]) == 0
    student = build_bundle(workdir, run_config(workdir))[1]
    assert student == f"'dmd' step {state['step']} (EMA)"
    shipped = load_file(str(tmp_path / "b" / "dit.safetensors"))
    assert all(torch.equal(shipped[k], v) for k, v in state["student_ema"].items())
    warning = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: "))
    assert f"tuned on the student {adapted_student(workdir)}, this student is {student}" in warning
    assert f"run `python -m v2v train adapt --workdir {workdir}` again" in warning


def test_export_writes_into_the_workdir_unless_told_and_leaves_the_shipped_model_alone(run_copy):
    workdir, _ = run_copy
    shutil.rmtree(workdir / "bundle")
    before = {p.name: p.stat().st_mtime_ns for p in DEFAULT_DIR.iterdir()}
    assert main(["export", "--workdir", str(workdir)]) == 0
    assert load_bundle(workdir / "bundle").size == run_config(workdir).size
    assert {p.name: p.stat().st_mtime_ns for p in DEFAULT_DIR.iterdir()} == before
