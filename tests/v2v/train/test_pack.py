"""`train pack` and `train seed --from PACK`: a run's stages carried to a new work directory and continued there."""

import json

import torch

from v2v.train.cli import main
from v2v.train.common import load_ckpt


def test_pack_carries_the_finished_stages_and_seed_goes_on_from_them(run, tmp_path, capsys):
    """`train pack` writes a run's finished stages as safetensors; `train seed --from PACK` makes them finished
    checkpoints of a new work directory, where the student exports to the very weights of the first run."""
    from safetensors.torch import load_file

    from v2v.train.seed import main as seed

    workdir, bundle = run
    pack = tmp_path / "pack"
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 0
    meta = json.loads((pack / "pack.json").read_text())
    assert set(meta["stages"]) == {"vae", "decoder", "teacher", "ode", "dmd"}
    assert meta["run"] == json.loads((workdir / "run.json").read_text())
    assert not (pack / "ckpt.pt").exists() and "opt" not in load_file(str(pack / "ode.safetensors"))
    new = tmp_path / "seeded"
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 0
    assert "ode finished, dmd finished" in capsys.readouterr().out
    for stage in ("vae", "decoder", "teacher", "ode", "dmd"):
        old, ours = load_ckpt(workdir / stage / "ckpt.pt"), load_ckpt(new / stage / "ckpt.pt")
        assert ours["step"] == old["step"] and ours["seeded_from"] == str(pack)
    teacher = load_ckpt(workdir / "teacher" / "ckpt.pt")["ema"]
    assert all(torch.equal(load_ckpt(new / "teacher" / "ckpt.pt")["model"][k], v) for k, v in teacher.items())
    assert load_ckpt(new / "teacher" / "latents.pt")["done"] == load_ckpt(workdir / "teacher" / "latents.pt")["done"]
    assert main(["all", "--workdir", str(new), "--out", str(tmp_path / "again")]) == 0  # adapt, then export
    for stage in ("vae", "decoder", "teacher", "ode", "dmd"):
        assert "already trained" in (new / stage / "log.txt").read_text()
    shipped, again = load_file(str(bundle / "dit.safetensors")), load_file(str(tmp_path / "again" / "dit.safetensors"))
    assert all(torch.equal(again[k], v) for k, v in shipped.items())
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 1  # never over a run's checkpoints
    assert "already has checkpoints" in capsys.readouterr().err


def test_pack_leaves_out_unfinished_stages_and_a_seeded_run_trains_the_rest(tmp_path, capsys):
    from v2v.train.seed import main as seed

    workdir, pack, new = tmp_path / "run", tmp_path / "pack", tmp_path / "seeded"
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 1
    assert "has no run.json" in capsys.readouterr().err
    assert main(["vae", "--preset", "tiny", "--workdir", str(workdir)]) == 0
    assert main(["decoder", "--workdir", str(workdir), "--steps", "1"]) == 0
    config = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps({**config, "decoder_steps": 2}))  # the decoder part-way through
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 0
    assert "pack: decoder left out (at step 1 of 2)" in capsys.readouterr().out
    assert sorted(p.name for p in pack.iterdir()) == ["pack.json", "vae.safetensors"]
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 0
    assert not (new / "teacher").exists()  # no teacher in the pack: its stage builds the cache
    assert main(["teacher", "--workdir", str(new)]) == 0
    assert load_ckpt(new / "teacher" / "ckpt.pt")["step"] == 3
    assert load_ckpt(new / "vae" / "ckpt.pt")["stats_done"]
    capsys.readouterr()
    partial, again = tmp_path / "partial", tmp_path / "again"  # --partial: the decoder as it stood, to resume
    assert main(["pack", "--workdir", str(workdir), "--out", str(partial), "--partial"]) == 0
    assert "pack: decoder in progress, at step 1 of 2 (its whole checkpoint)" in capsys.readouterr().out
    assert (partial / "decoder.ckpt.pt").is_file()
    assert seed(["--from", str(partial), "--workdir", str(again)]) == 0
    assert "decoder in progress" in capsys.readouterr().out
    old, ours = load_ckpt(workdir / "decoder" / "ckpt.pt"), load_ckpt(again / "decoder" / "ckpt.pt")
    assert ours["step"] == 1 and "opt" in ours
    assert all(torch.equal(ours["vae"][k], v) for k, v in old["vae"].items())
    assert main(["decoder", "--workdir", str(again)]) == 0
    assert load_ckpt(again / "decoder" / "ckpt.pt")["step"] == 2
    assert "decoder: start at step 1" in (again / "decoder" / "log.txt").read_text()


def test_seed_conditional_starts_the_source_recipe_from_a_plain_bundle_exactly(run, tmp_path, capsys):
    """`train seed --conditional` from a plain bundle: the run's switch on, the teacher at step 0 with a zero
    source embedding (so it is the bundle's teacher, exactly), no plain student left to resume, and a
    prompt encoder that knows today's vocabulary; `train teacher` then fine-tunes it."""
    from v2v.train.common import TrainConfig, build_dit
    from v2v.train.data import VOCAB
    from v2v.train.seed import main as seed

    _, bundle = run
    new = tmp_path / "cond"
    assert seed(["--from", str(bundle), "--workdir", str(new), "--preset", "tiny", "--conditional"]) == 0
    assert "source-conditioned recipe" in capsys.readouterr().out
    config = TrainConfig.from_json(json.loads((new / "run.json").read_text()))
    assert config.conditional.source and set(VOCAB) <= set(config.text.vocab)
    state = load_ckpt(new / "teacher" / "ckpt.pt")
    assert state["step"] == 0 and not (new / "ode" / "ckpt.pt").exists() and not (new / "dmd" / "ckpt.pt").exists()
    weights = {k[len("dit.") :]: v for k, v in state["model"].items() if k.startswith("dit.")}
    assert (weights["source_embedding.weight"] == 0).all()
    from safetensors.torch import load_file

    plain = load_file(str(bundle / "teacher.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in plain.items())
    dit = build_dit(config, causal=False)
    dit.load_state_dict(weights)
    assert dit.config.source_channels == config.vae.z_dim
    assert main(["teacher", "--workdir", str(new), "--steps", "2"]) == 0
    assert load_ckpt(new / "teacher" / "ckpt.pt")["step"] == 2
