"""umT5 encoder (Wan checkpoint names), tokenizer, prompt encoders and the prompt-embedding cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from v2v.models import presets
from v2v.models.text import (
    CachedPromptEncoder,
    PromptCache,
    PromptNotCachedError,
    T5Config,
    T5PromptEncoder,
    T5Tokenizer,
    UMT5Encoder,
    cache_prompts,
    relative_position_buckets,
)

REFERENCE = Path(__file__).parents[2] / "data" / "reference" / "umt5_xxl_encoder.json"
TINY = presets.tiny_t5(text_len=16)
WORDS = ["a", "cat", "dog", "in", "the", "snow", "painting", "of", "oil", "neon", "city"]


def tiny_encoder(seed: int = 0) -> UMT5Encoder:
    torch.manual_seed(seed)
    return UMT5Encoder(TINY).eval()


def write_tokenizer(folder: Path) -> Path:
    """A word-level tokenizer with umT5's special tokens (<pad> 0, </s> 1, <unk> 2) and its '$A </s>'
    post-processor, saved as tokenizer.json the way Hugging Face ships umT5's."""
    tokenizers = pytest.importorskip("tokenizers", reason="the 'tokenizers' package is not installed")
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def test_default_config_has_exactly_the_reference_keys_and_shapes() -> None:
    reference = json.loads(REFERENCE.read_text())
    with torch.device("meta"):
        model = UMT5Encoder(T5Config())
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == reference["shapes"]
    assert len(shapes) == reference["tensors"] == 242
    assert sum(p.numel() for p in model.parameters()) == reference["parameters"] == 5_680_910_336


def test_relative_position_buckets_follow_t5() -> None:
    b = relative_position_buckets(300, 32)  # [query, key]
    assert b[0, 0] == 0
    assert b[1, 0] == 1 and b[0, 1] == 17  # key before the query: lower half; after: upper half
    assert b[7, 0] == 7 and b[8, 0] == 8  # exact below 8, log-spaced from 8
    assert b[127, 0] == 15 and b[299, 0] == 15 and b[0, 299] == 31  # far distances share the last bucket
    assert b.min() >= 0 and b.max() < 32


def test_tiny_encoder_runs_and_ignores_padded_ids() -> None:
    model = tiny_encoder()
    ids = torch.randint(3, TINY.vocab, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.int64)
    mask[0, 6:] = 0
    out = model(ids, mask)
    assert out.shape == (2, 10, TINY.dim) and out.dtype == torch.float32 and torch.isfinite(out).all()

    other = ids.clone()
    other[0, 6:] = torch.randint(3, TINY.vocab, (4,))
    torch.testing.assert_close(model(other, mask)[0, :6], out[0, :6], rtol=0, atol=0)
    # a prompt alone gives the same real-token outputs as inside a padded batch
    torch.testing.assert_close(model(ids[:1, :6], mask[:1, :6])[0], out[0, :6])
    # and padding matters when unmasked
    assert not torch.allclose(model(other, torch.ones_like(mask))[0, :6], out[0, :6])


def test_attention_is_unscaled_softmax_with_position_bias() -> None:
    """The SDPA path equals the plain formula: softmax(q k^T + bias) v, no 1/sqrt(D)."""
    model = tiny_encoder()
    block = model.blocks[0]
    x = torch.randn(1, 5, TINY.dim)
    pad = torch.tensor([False, False, False, True, True]).view(1, 1, 1, 5)
    bias = block.pos_embedding(relative_position_buckets(5, TINY.num_buckets))  # [1, N, L, L]
    got = block.attn(x, bias, pad)
    q, k, v = (m(x).view(1, 5, 4, 8).transpose(1, 2) for m in (block.attn.q, block.attn.k, block.attn.v))
    logits = q @ k.transpose(-1, -2) + bias.masked_fill(pad, float("-inf"))
    expected = block.attn.o((logits.softmax(-1) @ v).transpose(1, 2).reshape(1, 5, TINY.dim_attn))
    torch.testing.assert_close(got, expected)


def test_encoder_rejects_wrong_inputs() -> None:
    model = tiny_encoder()
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="mask must match"):
        model(torch.zeros(2, 4, dtype=torch.int64), torch.ones(2, 5))


def test_tokenizer_pads_truncates_and_ends_with_eos(tmp_path: Path) -> None:
    tok = T5Tokenizer(write_tokenizer(tmp_path / "tok"), text_len=6)
    ids, mask = tok(["a  cat\n in the snow", "a cat in the snow of the neon city"])
    assert ids.dtype == mask.dtype == torch.int64 and ids.shape == mask.shape == (2, 6)
    assert ids[0].tolist() == [3, 4, 6, 7, 8, 1] and mask[0].tolist() == [1] * 6
    assert ids[1, -1] == 1 and mask[1].sum() == 6  # truncated, still ends with </s>
    ids, mask = tok(["a &amp; cat"])  # html unescaped: '&' is unknown
    assert ids[0, :4].tolist() == [3, 2, 4, 1] and mask[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert ids[0, 4:].tolist() == [0, 0]


def test_tokenizer_errors_name_the_folder_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tokenizers", reason="the 'tokenizers' package is not installed")
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json in .*empty.*umt5-xxl"):
        T5Tokenizer(tmp_path / "empty")
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match=r"empty.*pip install"):
        T5Tokenizer(tmp_path / "empty")


def test_t5_prompt_encoder_zero_pads_past_each_prompt(tmp_path: Path) -> None:
    model = tiny_encoder()
    tok = T5Tokenizer(write_tokenizer(tmp_path / "tok"), text_len=TINY.text_len)
    enc = T5PromptEncoder(model, tok)
    out = enc.encode(["a cat", "oil painting of a neon city"])
    assert out.shape == (2, TINY.text_len, TINY.dim) and out.dtype == torch.float32
    lengths = [3, 7]  # words + </s>
    for i, n in enumerate(lengths):
        assert (out[i, n:] == 0).all()
        assert (out[i, :n].abs().sum(-1) > 0).all()
    ids, mask = tok(["a cat"])
    torch.testing.assert_close(out[0, :3], model(ids, mask)[0, :3])
    with pytest.raises(ValueError, match="text_len"):
        T5PromptEncoder(model, tok, text_len=8)


def test_identity_depends_on_the_weights(tmp_path: Path) -> None:
    tok = T5Tokenizer(write_tokenizer(tmp_path / "tok"), text_len=TINY.text_len)
    a, b = T5PromptEncoder(tiny_encoder(0), tok), T5PromptEncoder(tiny_encoder(1), tok)
    assert a.identity == T5PromptEncoder(tiny_encoder(0), tok).identity
    assert a.identity != b.identity and a.identity.startswith("umt5-d32-l2-t16-")


class FakeEncoder:
    """A PromptEncoder stand-in with a prompt-dependent output and a call counter."""

    identity = "fake-v1"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, prompts: list[str]) -> torch.Tensor:
        self.calls += 1
        out = torch.zeros(len(prompts), 8, 4)
        for i, p in enumerate(prompts):
            n = len(p.split())
            out[i, :n] = torch.arange(1.0, 4 * n + 1).view(n, 4) * len(p)
        return out


def test_prompt_cache_round_trip(tmp_path: Path) -> None:
    enc = FakeEncoder()
    prompts = ["a cat", "oil painting of a neon city", "a cat"]
    cache_prompts(enc, prompts, tmp_path / "cache", batch_size=1)
    assert enc.calls == 2  # the duplicate is encoded once
    cache_prompts(enc, prompts, tmp_path / "cache")
    assert enc.calls == 2  # already cached: nothing to encode

    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert sorted(e["prompt"] for e in index["entries"].values()) == ["a cat", "oil painting of a neon city"]
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2

    cached = CachedPromptEncoder(tmp_path / "cache")
    assert cached.identity == "fake-v1"
    got = cached.encode(["oil painting of a neon city", "a  cat "])  # same cleaning as the tokenizer
    torch.testing.assert_close(got, enc.encode(["oil painting of a neon city", "a cat"]), rtol=0, atol=0)
    assert PromptCache(tmp_path / "cache").prompts("fake-v1") == ["a cat", "oil painting of a neon city"]


def test_t5_embeddings_round_trip_through_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = T5PromptEncoder(tiny_encoder(), T5Tokenizer(write_tokenizer(tmp_path / "tok"), text_len=TINY.text_len))
    expected = enc.encode(["a cat in the snow"])
    cache_prompts(enc, ["a cat in the snow"], tmp_path / "cache")

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("CachedPromptEncoder built a umT5 model")

    monkeypatch.setattr(UMT5Encoder, "__init__", no_model)
    got = CachedPromptEncoder(tmp_path / "cache").encode(["a cat in the snow"])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_cached_encoder_explains_how_to_cache_a_missing_prompt(tmp_path: Path) -> None:
    cache_prompts(FakeEncoder(), ["a cat"], tmp_path / "cache")
    cached = CachedPromptEncoder(tmp_path / "cache")
    with pytest.raises(PromptNotCachedError, match=r"'a dog'.*'neon city'.*cache_prompts\("):
        cached.encode(["a cat", "a dog", "neon city"])
    with pytest.raises(ValueError, match="no cached prompts.*cache_prompts"):
        CachedPromptEncoder(tmp_path / "nothing")
