"""The `ode` stage (v2v/train/ode.py): a finished student regression resumes when given more steps."""

from tests.v2v.train.helpers import run_config
from v2v.train.cli import main
from v2v.train.common import load_ckpt


def test_more_steps_resume_the_student_where_its_checkpoint_stopped(run_copy, steps_run):
    workdir, _ = run_copy
    done = load_ckpt(workdir / "ode" / "ckpt.pt")["step"]
    assert main(["ode", "--workdir", str(workdir), "--steps", str(done + 2)]) == 0
    assert steps_run == [("ode", done), ("ode", done + 1)]  # only the new steps ran
    assert load_ckpt(workdir / "ode" / "ckpt.pt")["step"] == done + 2 == run_config(workdir).ode_steps
