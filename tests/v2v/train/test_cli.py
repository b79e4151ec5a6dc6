"""`python -m v2v train` (v2v/train/cli.py): options checked before any stage runs, one stage per process, and
one-line errors for what is missing."""

import pytest
import torch

from v2v.train.cli import main
from v2v.train.common import load_ckpt, resolve_device


def test_device_is_checked_before_any_stage_runs(tmp_path, capsys):
    for device, message in (("meta", "training runs on cpu or cuda"), ("gpu0", "unknown device 'gpu0'")):
        assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path), "--device", device]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "run.json").exists()  # nothing was written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_says_to_use_the_cpu(tmp_path, capsys):
    assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: this torch build sees no CUDA GPU") and "use --device cpu" in err
    assert resolve_device("auto") == torch.device("cpu")


def test_a_caption_share_outside_0_1_is_a_one_line_error(tmp_path, capsys):
    assert main(["teacher", "--workdir", str(tmp_path / "run"), "--caption-short", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --caption-short 1.5 is a share") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_missing_upstream_stage_is_a_clear_error(tmp_path, capsys):
    assert main(["ode", "--preset", "tiny", "--workdir", str(tmp_path)]) == 1
    assert "run `python -m v2v train teacher" in capsys.readouterr().err


def test_a_stage_already_running_in_the_workdir_is_refused(run_copy, capsys):
    """Two processes training one stage would overwrite each other's checkpoint (and run.json) in turn."""
    import fcntl
    import os

    workdir, _ = run_copy
    before = (workdir / "run.json").read_text()
    with open(workdir / "dmd" / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.seek(0)
        held.truncate()  # as the stage that holds it does
        held.write(f"{os.getpid()}\n")
        held.flush()
        assert main(["dmd", "--workdir", str(workdir), "--steps", "50", "--paired-weight", "0.9"]) == 1
    err = capsys.readouterr().err
    assert f"stage 'dmd' is already running in {workdir} (pid {os.getpid()})" in err and "kill -TERM" in err
    assert (workdir / "run.json").read_text() == before  # the refused command changed nothing
    assert load_ckpt(workdir / "dmd" / "ckpt.pt")["step"] < 50
