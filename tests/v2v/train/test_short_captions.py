"""Style-only training prompts (--caption-short): the prompts a user types, mixed into every stage's captions."""

import numpy as np

from v2v.train.cli import main
from v2v.train.data import _CONTENT_WORDS, STYLES, VOCAB, caption, sample_scene, short_caption, style_prompt
from v2v.train.teacher import captions


def test_short_captions_name_the_style_and_nothing_of_the_scene():
    rng = np.random.default_rng(0)
    content = {w for phrase in _CONTENT_WORDS for w in phrase.split()} - {"a"}
    for style in STYLES:
        assert short_caption(style) == style_prompt(style)
        drawn = {short_caption(style, rng) for _ in range(200)}
        assert style_prompt(style) in drawn
        assert any("landscape" not in text for text in drawn)  # the style words alone
        assert any(text != style_prompt(style) and text.endswith(" landscape") for text in drawn)
        for text in drawn:
            assert set(text.split()) <= set(VOCAB), text  # no unknown word for the prompt encoder
            assert not set(text.split()) & content, text  # no scene content
            assert " with " not in text


def _old_captions(seeds, styles, rng, dropout):
    """The captions before the option existed: what a run at --caption-short 0 must still draw."""
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


def test_a_share_outside_0_1_is_a_one_line_error(tmp_path, capsys):
    assert main(["teacher", "--workdir", str(tmp_path / "run"), "--caption-short", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --caption-short 1.5 is a share") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
