"""WordPromptEncoder: the default model's text side, a word tokenizer + a small transformer.

The procedural training data speaks a small closed vocabulary (v2v/train/data.py `VOCAB`), so a word
per token is enough. Prompts are lower-cased and split on non-letters; unknown words map to <unk>
(with one warning per prompt listing them); the output is zero past each prompt's real length, which
is what the DiT's cross-attention expects (docs/interfaces.md, PromptEncoder).

Shape letters: B batch, L tokens (text_len), D model width.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class WordTextConfig:
    vocab: tuple[str, ...] = ()  # known words, lower case; ids 0/1 are <pad>/<unk>, words start at 2
    text_len: int = 16  # tokens per prompt (longer prompts are cut)
    dim: int = 128  # embedding width (the DiT's text_dim)
    num_layers: int = 2  # transformer encoder layers
    num_heads: int = 4  # attention heads (dim must divide by it)
    ffn_dim: int = 256  # feed-forward hidden width


def split_words(prompt: str) -> list[str]:
    """Lower-case and split on anything that is not a letter."""
    return [w for w in re.split(r"[^a-z]+", prompt.lower()) if w]


class WordTokenizer:
    def __init__(self, vocab: tuple[str, ...], text_len: int) -> None:
        self.words = (PAD, UNK) + tuple(vocab)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.text_len = text_len

    def __call__(self, prompts: list[str]) -> tuple[Tensor, Tensor, list[str]]:
        """-> ids int64 [B, L], mask bool [B, L] (True on real tokens), unknown words (in order)."""
        ids = torch.zeros(len(prompts), self.text_len, dtype=torch.long)
        unknown: list[str] = []
        for b, prompt in enumerate(prompts):
            words = split_words(prompt)[: self.text_len]
            for i, word in enumerate(words):
                if word not in self.index and word not in unknown:
                    unknown.append(word)
                ids[b, i] = self.index.get(word, 1)
        return ids, ids != 0, unknown


class WordPromptEncoder(nn.Module):
    """encode(prompts) -> float [B, text_len, dim], zero past each prompt's length."""

    def __init__(self, config: WordTextConfig) -> None:
        super().__init__()
        assert config.dim % config.num_heads == 0, "dim must divide by num_heads"
        self.config = config
        self.text_len, self.dim = config.text_len, config.dim
        self.tokenizer = WordTokenizer(config.vocab, config.text_len)
        self.token_embedding = nn.Embedding(len(self.tokenizer.words), config.dim)
        self.pos_embedding = nn.Parameter(torch.randn(config.text_len, config.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            config.dim, config.num_heads, config.ffn_dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)

    def with_vocab(self, vocab: tuple[str, ...]) -> WordPromptEncoder:
        """A copy that knows `vocab` (a superset of this one's words): each known word keeps its embedding, a new
        word starts as <unk> (so every prompt encodes exactly as before until training moves it)."""
        missing = [w for w in self.config.vocab if w not in vocab]
        if missing:
            raise ValueError(f"the new vocabulary drops known words: {', '.join(missing)}")
        new = WordPromptEncoder(dataclasses.replace(self.config, vocab=tuple(vocab)))
        new.load_state_dict({k: v for k, v in self.state_dict().items() if k != "token_embedding.weight"}, strict=False)
        old = self.token_embedding.weight.detach()  # [V_old, D]
        index = {w: i for i, w in enumerate(self.tokenizer.words)}
        unk = index[UNK]
        rows = [index.get(w, unk) for w in new.tokenizer.words]  # [V_new]
        with torch.no_grad():
            new.token_embedding.weight.copy_(old[rows])  # [V_new, D]
        return new

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids int64 [B, L], mask bool [B, L] -> [B, L, dim], zero where mask is False."""
        x = self.token_embedding(ids) + self.pos_embedding[: ids.shape[1]]  # [B, L, D]
        x = self.blocks(x, src_key_padding_mask=~mask)  # [B, L, D]
        return self.norm(x) * mask.unsqueeze(-1).to(x.dtype)  # [B, L, D]

    def encode(self, prompts: list[str]) -> Tensor:
        """prompts -> float32 [B, text_len, dim]; warns once per call listing unknown words."""
        assert isinstance(prompts, (list, tuple)), f"expected a list of str, got {type(prompts)}"
        ids, mask, unknown = self.tokenizer(list(prompts))
        if unknown:
            warnings.warn(
                f"prompt words not in the default model's vocabulary (ignored as <unk>): {', '.join(unknown)}",
                stacklevel=2,
            )
        device = self.token_embedding.weight.device
        empty = ~mask.any(1)
        mask = mask.clone()
        mask[empty, 0] = True  # an empty prompt attends to one <pad> token instead of to nothing
        out = self.forward(ids.to(device), mask.to(device))
        return out * (~empty).to(device, out.dtype).view(-1, 1, 1)
