"""`train seed` (v2v/train/seed.py): a work directory started from an exported bundle, and what goes on from it."""

import json

import torch
from safetensors.torch import load_file, save_file

from tests.v2v.train.helpers import run_config, written
from v2v.models.bundle import load_bundle
from v2v.train import dmd
from v2v.train.cli import main
from v2v.train.common import load_ckpt
from v2v.train.seed import main as seed

SEEDED = ("vae", "decoder", "teacher", "ode", "dmd")


def test_seed_starts_a_run_from_a_bundle_and_dmd_continues_it(run, tmp_path, capsys, steps_run, monkeypatch):
    """`train seed` turns an exported bundle into finished vae/decoder/teacher/ode checkpoints and a `dmd`
    checkpoint at --dmd-step; `dmd` continues from there with a critic restarted from the teacher, which trains
    alone for the warm-up before the generator's first step."""
    _, bundle = run
    workdir = tmp_path / "seeded"
    assert seed(["--from", str(bundle), "--workdir", str(workdir), "--preset", "tiny", "--dmd-step", "4"]) == 0
    student = load_file(str(bundle / "dit.safetensors"))
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == 4 and "critic" not in state
    assert all(torch.equal(state["student_ema"][k], v) for k, v in student.items())
    assert load_ckpt(workdir / "teacher" / "latents.pt")["done"] == run_config(workdir).cache_scenes
    seeded = {s: written(workdir / s / "ckpt.pt") for s in SEEDED}
    assert main(["all", "--workdir", str(workdir), "--out", str(tmp_path / "again")]) == 0
    assert {stage for stage, _ in steps_run} == {"adapt"}  # the seeded stages count as trained
    assert {s: written(workdir / s / "ckpt.pt") for s in SEEDED} == seeded
    assert load_bundle(tmp_path / "again").size == run_config(workdir).size
    config = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps({**config, "dmd_critic_warmup": 2}))
    generator_steps, real_loss = [], dmd.dmd_loss
    monkeypatch.setattr(dmd, "dmd_loss", lambda *a: generator_steps.append(1) or real_loss(*a))
    argv = ["dmd", "--workdir", str(workdir), "--steps", "8", "--rollout-paired", "1", "--rollout-paired-from", "5"]
    assert main(argv) == 0
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == 8 and "critic" in state and state["critic_warm_until"] == 4 + 2
    assert len(generator_steps) == 1  # of the generator steps 5 and 7, the warm-up skipped 5
    assert state["phases"] == [[4, "self_forcing", 0.5, 0.0], [5, "self_forcing", 0.5, 1.0]]
    assert not all(torch.equal(state["student"][k], v) for k, v in student.items())
    capsys.readouterr()
    assert seed(["--from", str(bundle), "--workdir", str(workdir), "--preset", "tiny"]) == 1
    assert "already has checkpoints" in capsys.readouterr().err
    assert seed(["--from", str(tmp_path / "nothing"), "--workdir", str(tmp_path / "x")]) == 1
    assert "is not a v2v bundle" in capsys.readouterr().err


def test_seed_takes_another_decoder_of_the_same_encoder_only(run, tmp_path, capsys):
    _, bundle = run
    own = load_file(str(bundle / "vae.safetensors"))
    other = {k: v + 0.5 if "decoder" in k else v.clone() for k, v in own.items()}
    save_file(other, str(tmp_path / "decoder.safetensors"))
    workdir = tmp_path / "seeded"
    argv = ["--from", str(bundle), "--workdir", str(workdir), "--preset", "tiny"]
    assert seed([*argv, "--decoder", str(tmp_path / "decoder.safetensors")]) == 0
    decoder, vae = load_ckpt(workdir / "decoder" / "ckpt.pt")["vae"], load_ckpt(workdir / "vae" / "ckpt.pt")["vae"]
    assert all(torch.equal(decoder[k], other[k]) for k in own)  # `adapt` starts from this one
    assert all(torch.equal(vae[k], own[k]) for k in own)  # the bundle's own, unchanged
    moved = {k: v + 0.5 if "encoder" in k else v for k, v in own.items()}
    save_file(moved, str(tmp_path / "moved.safetensors"))
    argv = ["--from", str(bundle), "--workdir", str(tmp_path / "x"), "--preset", "tiny"]
    assert seed([*argv, "--decoder", str(tmp_path / "moved.safetensors")]) == 1
    assert "has another encoder" in capsys.readouterr().err
    assert not (tmp_path / "x" / "vae").exists()  # nothing written on bad input


def test_seed_conditional_starts_the_source_recipe_from_a_plain_bundle_exactly(run, tmp_path):
    """`train seed --conditional` from a plain bundle: the run's switch on, the teacher at step 0 with a zero
    source embedding (so it is the bundle's teacher, exactly), no plain student left to resume, and a
    prompt encoder that knows today's vocabulary; `train teacher` then fine-tunes it."""
    from v2v.train.common import build_dit
    from v2v.train.data import VOCAB

    _, bundle = run
    new = tmp_path / "cond"
    assert seed(["--from", str(bundle), "--workdir", str(new), "--preset", "tiny", "--conditional"]) == 0
    config = run_config(new)
    assert config.conditional.source and set(VOCAB) <= set(config.text.vocab)
    state = load_ckpt(new / "teacher" / "ckpt.pt")
    assert state["step"] == 0 and not (new / "ode" / "ckpt.pt").exists() and not (new / "dmd" / "ckpt.pt").exists()
    weights = {k[len("dit.") :]: v for k, v in state["model"].items() if k.startswith("dit.")}
    assert (weights["source_embedding.weight"] == 0).all()
    plain = load_file(str(bundle / "teacher.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in plain.items())
    dit = build_dit(config, causal=False)
    dit.load_state_dict(weights)
    assert dit.config.source_channels == config.vae.z_dim
    assert main(["teacher", "--workdir", str(new), "--steps", "2"]) == 0
    assert load_ckpt(new / "teacher" / "ckpt.pt")["step"] == 2
