"""`train pack` and `train seed --from PACK`: a run's stages carried to a new work directory and continued there."""

import json

import torch

from tests.v2v.train.helpers import written
from v2v.train.cli import main
from v2v.train.common import load_ckpt

PACKED = ("vae", "decoder", "teacher", "ode", "dmd")


def test_pack_carries_the_finished_stages_and_seed_goes_on_from_them(run, tmp_path, capsys, steps_run):
    """`train pack` writes a run's finished stages as safetensors; `train seed --from PACK` makes them finished
    checkpoints of a new work directory, where the student exports to the very weights of the first run."""
    from safetensors.torch import load_file

    from v2v.train.seed import main as seed

    workdir, bundle = run
    pack = tmp_path / "pack"
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 0
    meta = json.loads((pack / "pack.json").read_text())
    assert set(meta["stages"]) == set(PACKED) and not any(e.get("in_progress") for e in meta["stages"].values())
    assert meta["run"] == json.loads((workdir / "run.json").read_text())
    assert not (pack / "ckpt.pt").exists() and "opt" not in load_file(str(pack / "ode.safetensors"))
    new = tmp_path / "seeded"
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 0
    for stage in PACKED:
        old, ours = load_ckpt(workdir / stage / "ckpt.pt"), load_ckpt(new / stage / "ckpt.pt")
        assert ours["step"] == old["step"] and ours["seeded_from"] == str(pack)
    teacher = load_ckpt(workdir / "teacher" / "ckpt.pt")["ema"]
    assert all(torch.equal(load_ckpt(new / "teacher" / "ckpt.pt")["model"][k], v) for k, v in teacher.items())
    assert load_ckpt(new / "teacher" / "latents.pt")["done"] == load_ckpt(workdir / "teacher" / "latents.pt")["done"]
    seeded = {s: written(new / s / "ckpt.pt") for s in PACKED}
    assert main(["all", "--workdir", str(new), "--out", str(tmp_path / "again")]) == 0  # adapt, then export
    assert {stage for stage, _ in steps_run} == {"adapt"}  # the packed stages count as trained
    assert {s: written(new / s / "ckpt.pt") for s in PACKED} == seeded
    shipped, again = load_file(str(bundle / "dit.safetensors")), load_file(str(tmp_path / "again" / "dit.safetensors"))
    assert all(torch.equal(again[k], v) for k, v in shipped.items())
    capsys.readouterr()
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 1  # never over a run's checkpoints
    assert "already has checkpoints" in capsys.readouterr().err


def test_pack_leaves_out_unfinished_stages_and_a_seeded_run_trains_the_rest(tmp_path, capsys, steps_run):
    from v2v.train.seed import main as seed

    workdir, pack, new = tmp_path / "run", tmp_path / "pack", tmp_path / "seeded"
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 1
    assert "has no run.json" in capsys.readouterr().err
    assert main(["vae", "--preset", "tiny", "--workdir", str(workdir)]) == 0
    assert main(["decoder", "--workdir", str(workdir), "--steps", "1"]) == 0
    config = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps({**config, "decoder_steps": 2}))  # the decoder part-way through
    assert main(["pack", "--workdir", str(workdir), "--out", str(pack)]) == 0
    assert set(json.loads((pack / "pack.json").read_text())["stages"]) == {"vae"}  # the decoder left out
    assert sorted(p.name for p in pack.iterdir()) == ["pack.json", "vae.safetensors"]
    assert seed(["--from", str(pack), "--workdir", str(new)]) == 0
    assert not (new / "teacher").exists()  # no teacher in the pack: its stage builds the cache
    assert main(["teacher", "--workdir", str(new)]) == 0
    assert load_ckpt(new / "teacher" / "ckpt.pt")["step"] == 3
    assert load_ckpt(new / "vae" / "ckpt.pt")["stats_done"]
    partial, again = tmp_path / "partial", tmp_path / "again"  # --partial: the decoder as it stood, to resume
    assert main(["pack", "--workdir", str(workdir), "--out", str(partial), "--partial"]) == 0
    entry = json.loads((partial / "pack.json").read_text())["stages"]["decoder"]
    assert entry["in_progress"] and entry["step"] == 1 and entry["files"] == ["decoder.ckpt.pt"]
    assert (partial / "decoder.ckpt.pt").is_file()
    assert seed(["--from", str(partial), "--workdir", str(again)]) == 0
    old, ours = load_ckpt(workdir / "decoder" / "ckpt.pt"), load_ckpt(again / "decoder" / "ckpt.pt")
    assert ours["step"] == 1 and "opt" in ours
    assert all(torch.equal(ours["vae"][k], v) for k, v in old["vae"].items())
    steps_run.clear()
    assert main(["decoder", "--workdir", str(again)]) == 0
    assert steps_run == [("decoder", 1)]  # it resumed where the packed checkpoint stood
    assert load_ckpt(again / "decoder" / "ckpt.pt")["step"] == 2
