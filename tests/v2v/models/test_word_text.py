import warnings

import pytest
import torch

from v2v.models.word_text import WordPromptEncoder, WordTextConfig, split_words


def _encoder() -> WordPromptEncoder:
    torch.manual_seed(0)
    cfg = WordTextConfig(
        vocab=("a", "realistic", "blocky", "red", "house"), text_len=6, dim=16, num_layers=1, num_heads=2, ffn_dim=32
    )
    return WordPromptEncoder(cfg).eval()


def test_split_words_lowercases_and_drops_non_letters():
    assert split_words("A Red-house, 3D!") == ["a", "red", "house", "d"]


def test_shape_and_zero_padding():
    enc = _encoder()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = enc.encode(["a red house", "Realistic"])
    assert out.shape == (2, 6, 16) and out.dtype == torch.float32
    assert (out[0, :3].abs().sum(-1) > 0).all() and (out[0, 3:] == 0).all()
    assert (out[1, :1].abs().sum(-1) > 0).all() and (out[1, 1:] == 0).all()


def test_case_and_punctuation_do_not_matter():
    enc = _encoder()
    torch.testing.assert_close(enc.encode(["A RED house."]), enc.encode(["a red house"]))


def test_empty_prompt_is_all_zeros():
    assert (_encoder().encode([""]) == 0).all()


def test_unknown_words_warn_once_listing_them():
    enc = _encoder()
    with pytest.warns(UserWarning, match="purple, castle") as record:
        out = enc.encode(["a purple castle", "purple"])
    assert len(record) == 1
    assert out.shape == (2, 6, 16) and torch.isfinite(out).all()


def test_with_vocab_keeps_every_known_prompt_and_starts_new_words_as_unknown():
    enc = _encoder()
    wider = enc.with_vocab(("a", "realistic", "blocky", "red", "house", "purple")).eval()
    torch.testing.assert_close(wider.encode(["a red house", "blocky"]), enc.encode(["a red house", "blocky"]))
    with pytest.warns(UserWarning):
        before = enc.encode(["a purple house"])
    torch.testing.assert_close(wider.encode(["a purple house"]), before)  # <unk> until training moves it
    assert wider.tokenizer.words[-1] == "purple"
    with pytest.raises(ValueError, match="drops known words: house"):
        enc.with_vocab(("a", "realistic", "blocky", "red"))
