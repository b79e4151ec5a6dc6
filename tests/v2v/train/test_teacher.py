"""The `teacher` stage (v2v/train/teacher.py): its captions with style-only prompts mixed in, and a finished
teacher left alone."""

import numpy as np

from tests.v2v.train.helpers import written
from v2v.train.cli import main
from v2v.train.data import STYLES, caption, sample_scene
from v2v.train.teacher import captions


def _old_captions(seeds, styles, rng, dropout):
    """The captions before --caption-short existed: what a run at --caption-short 0 must still draw."""
    return [
        "" if rng.random() < dropout else caption(sample_scene(s), st, rng) for s, st in zip(seeds, styles, strict=True)
    ]


def test_share_zero_draws_exactly_what_earlier_runs_drew():
    seeds, styles = list(range(12)), [STYLES[i % len(STYLES)] for i in range(12)]
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert captions(seeds, styles, a, 0.1) == _old_captions(seeds, styles, b, 0.1)
    assert captions(seeds, styles, a, 0.1, 0.0) == _old_captions(seeds, styles, b, 0.1)
    assert a.random() == b.random()  # and the stream goes on in step


def test_the_share_of_short_prompts():
    seeds, styles = list(range(400)), [STYLES[i % len(STYLES)] for i in range(400)]
    every = captions(seeds, styles, np.random.default_rng(0), 0.0, 1.0)
    assert all(" with " not in text and text for text in every)
    half = captions(seeds, styles, np.random.default_rng(0), 0.0, 0.5)
    share = np.mean([" with " not in text for text in half])
    assert 0.4 < share < 0.6
    full = captions(seeds, styles, np.random.default_rng(0), 0.0, 0.0)
    assert all(" with " in text for text in full)


def test_a_finished_teacher_is_not_trained_again(run_copy, steps_run):
    workdir, _ = run_copy
    files = [workdir / "teacher" / name for name in ("ckpt.pt", "latents.pt")]
    before = [written(f) for f in files]
    assert main(["teacher", "--workdir", str(workdir)]) == 0
    assert steps_run == []
    assert [written(f) for f in files] == before  # neither the checkpoint nor the latent cache was rewritten
