"""umT5 text encoder in Wan2.1's checkpoint format, its tokenizer, and a prompt-embedding cache.

Shape letters: B batch, L tokens (text_len after padding), C model dim, N heads, D head dim.

Module attribute names follow the keys of Wan2.1's `models_t5_umt5-xxl-enc-bf16.pth` (see
tests/data/reference/umt5_xxl_encoder.json), so its weights load without renaming. The architecture
is the T5 v1.1 / umT5 encoder: RMS layer norm without bias, unscaled attention with a learned
relative-position bias in every layer (umT5 does not share it across layers), gated-GELU feed-forward.
Reference: https://github.com/Wan-Video/Wan2.1/blob/main/wan/modules/t5.py
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from v2v.models.protocols import PromptEncoder


@dataclass(frozen=True)
class T5Config:
    vocab: int = 256384  # token ids in [0, vocab)
    dim: int = 4096  # C, width of the residual stream
    dim_attn: int = 4096  # N * D, width of q/k/v
    dim_ffn: int = 10240  # hidden width of the gated-GELU feed-forward
    num_heads: int = 64  # N
    num_layers: int = 24  # encoder blocks
    num_buckets: int = 32  # relative-position buckets per layer (half per direction)
    text_len: int = 512  # L, prompts are padded / truncated to this many tokens
    eps: float = 1e-6  # RMS norm epsilon

    def __post_init__(self) -> None:
        if self.dim_attn % self.num_heads:
            raise ValueError(f"T5Config: dim_attn {self.dim_attn} is not divisible by num_heads {self.num_heads}")


MAX_DISTANCE = 128  # T5: relative distances beyond this share the last log-spaced bucket


def relative_position_buckets(length: int, num_buckets: int, device: torch.device | None = None) -> Tensor:
    """Bidirectional T5 buckets of (key position - query position): int64 [L, L] in [0, num_buckets).

    Half the buckets per direction; within a direction, distances below half of that are exact and the
    rest are log-spaced up to MAX_DISTANCE."""
    pos = torch.arange(length, device=device)
    rel = pos[None, :] - pos[:, None]  # [L, L]
    half = num_buckets // 2
    buckets = (rel > 0).long() * half
    rel = rel.abs()
    exact = half // 2
    # clamp(min=1) only keeps log() finite; those small distances take the exact branch below
    log_ratio = torch.log(rel.clamp(min=1).float() / exact) / math.log(MAX_DISTANCE / exact)
    large = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return buckets + torch.where(rel < exact, rel, large)


class T5LayerNorm(nn.Module):
    """RMS norm with a scale and no bias or mean subtraction, computed in float32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * x32.to(self.weight.dtype)


class T5Attention(nn.Module):
    def __init__(self, dim: int, dim_attn: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim_attn, bias=False)
        self.k = nn.Linear(dim, dim_attn, bias=False)
        self.v = nn.Linear(dim, dim_attn, bias=False)
        self.o = nn.Linear(dim_attn, dim, bias=False)

    def forward(self, x: Tensor, position_bias: Tensor, pad: Tensor) -> Tensor:
        """x [B, L, C]; position_bias [1, N, L, L]; pad [B, 1, 1, L] bool, True at padding keys."""
        B, L, _ = x.shape
        N = self.num_heads
        q = self.q(x).view(B, L, N, -1).transpose(1, 2)  # [B, N, L, D]
        k = self.k(x).view(B, L, N, -1).transpose(1, 2)  # [B, N, L, D]
        v = self.v(x).view(B, L, N, -1).transpose(1, 2)  # [B, N, L, D]
        bias = position_bias.to(q.dtype).masked_fill(pad, torch.finfo(q.dtype).min)  # [B, N, L, L]
        # T5 folds the 1/sqrt(D) scale into its weights: the attention itself is unscaled
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        return self.o(out.transpose(1, 2).reshape(B, L, -1))  # [B, L, C]


class TanhGELU(nn.Module):
    """GELU with the tanh approximation, as T5 v1.1 uses (a module so that `gate.0` names the Linear)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate="tanh")


class T5FeedForward(nn.Module):
    def __init__(self, dim: int, dim_ffn: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, dim_ffn, bias=False), TanhGELU())
        self.fc1 = nn.Linear(dim, dim_ffn, bias=False)
        self.fc2 = nn.Linear(dim_ffn, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.fc1(x) * self.gate(x))


class T5RelativeEmbedding(nn.Module):
    """One learned bias per (bucket, head)."""

    def __init__(self, num_buckets: int, num_heads: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_buckets, num_heads)

    def forward(self, buckets: Tensor) -> Tensor:
        return self.embedding(buckets).permute(2, 0, 1).unsqueeze(0)  # [1, N, L, L]


def _clamp_fp16(x: Tensor) -> Tensor:
    # umT5-XXL activations overflow float16 in a few channels; clamp as the reference does
    if x.dtype == torch.float16:
        big = torch.finfo(torch.float16).max - 1000
        return x.clamp(-big, big)
    return x


class T5Block(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        c = config
        self.norm1 = T5LayerNorm(c.dim, c.eps)
        self.attn = T5Attention(c.dim, c.dim_attn, c.num_heads)
        self.norm2 = T5LayerNorm(c.dim, c.eps)
        self.ffn = T5FeedForward(c.dim, c.dim_ffn)
        self.pos_embedding = T5RelativeEmbedding(c.num_buckets, c.num_heads)

    def forward(self, x: Tensor, buckets: Tensor, pad: Tensor) -> Tensor:
        """x [B, L, C]; buckets [L, L]; pad [B, 1, 1, L] bool, True at padding keys."""
        x = _clamp_fp16(x + self.attn(self.norm1(x), self.pos_embedding(buckets), pad))
        return _clamp_fp16(x + self.ffn(self.norm2(x)))


class UMT5Encoder(nn.Module):
    """umT5 encoder: ids [B, L] int64 and mask [B, L] (1 real, 0 padding) -> [B, L, C].

    Padding keys are masked out of attention, so the outputs at real tokens do not depend on what the
    padded ids are. Outputs at padded positions are not meaningful; PromptEncoders zero them."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab, config.dim)
        self.blocks = nn.ModuleList([T5Block(config) for _ in range(config.num_layers)])
        self.norm = T5LayerNorm(config.dim, config.eps)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        if ids.ndim != 2 or ids.dtype != torch.int64:
            raise ValueError(f"UMT5Encoder: ids must be int64 [B, L], got {ids.dtype} {list(ids.shape)}")
        if mask.shape != ids.shape:
            raise ValueError(f"UMT5Encoder: mask must match ids {list(ids.shape)}, got {list(mask.shape)}")
        B, L = ids.shape
        buckets = relative_position_buckets(L, self.config.num_buckets, ids.device)  # [L, L]
        pad = (mask == 0).view(B, 1, 1, L)  # [B, 1, 1, L]
        x = self.token_embedding(ids)  # [B, L, C]
        for block in self.blocks:
            x = block(x, buckets, pad)
        return self.norm(x)


def clean_prompt(prompt: str) -> str:
    """Wan's 'whitespace' cleaning (without ftfy): unescape HTML twice, collapse whitespace."""
    return re.sub(r"\s+", " ", html.unescape(html.unescape(prompt))).strip()


class T5Tokenizer:
    """umT5 tokenizer from a folder of Hugging Face tokenizer files (tokenizer.json).

    Calling it gives ids int64 [B, text_len] and mask int64 [B, text_len]: the prompt's tokens and the
    tokenizer's end-of-sequence token, truncated to text_len, then padding."""

    def __init__(self, folder: str | Path, text_len: int = 512) -> None:
        folder = Path(folder)
        path = folder / "tokenizer.json"
        try:
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ImportError(
                f"the umT5 tokenizer in {folder} needs the 'tokenizers' package: "
                "pip install 'v2v[tokenizers]' (or pip install tokenizers); "
                "or encode the prompts once elsewhere and use a CachedPromptEncoder"
            ) from e
        if not path.is_file():
            raise FileNotFoundError(
                f"no tokenizer.json in {folder}: point to a folder holding google/umt5-xxl's tokenizer "
                "files (Wan2.1 ships it as google/umt5-xxl/ beside models_t5_umt5-xxl-enc-bf16.pth)"
            )
        self.folder = folder
        self.text_len = text_len
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=text_len)
        pad_id = self.tokenizer.token_to_id("<pad>")
        self.pad_id = 0 if pad_id is None else pad_id

    def __call__(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        encodings = self.tokenizer.encode_batch([clean_prompt(p) for p in prompts], add_special_tokens=True)
        ids = torch.full((len(prompts), self.text_len), self.pad_id, dtype=torch.int64)  # [B, L]
        mask = torch.zeros(len(prompts), self.text_len, dtype=torch.int64)  # [B, L]
        for i, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[i, :n] = torch.tensor(encoding.ids, dtype=torch.int64)
            mask[i, :n] = 1
        return ids, mask


class T5PromptEncoder:
    """A umT5 encoder and its tokenizer. `identity` names the weights for the prompt cache; by default it
    is derived from the config, text_len and a fingerprint of a few small weight tensors."""

    def __init__(
        self, encoder: UMT5Encoder, tokenizer: T5Tokenizer, text_len: int | None = None, identity: str | None = None
    ) -> None:
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.text_len = tokenizer.text_len if text_len is None else text_len
        if self.text_len != tokenizer.text_len:
            raise ValueError(
                f"T5PromptEncoder: text_len {self.text_len} differs from the tokenizer's {tokenizer.text_len}"
            )
        self.identity = identity or _fingerprint(encoder, self.text_len)

    @torch.no_grad()  # not inference_mode: trainers feed these embeddings to models that need autograd
    def encode(self, prompts: list[str]) -> Tensor:
        """prompts -> float32 [B, text_len, dim] on the encoder's device, zero past each prompt's tokens."""
        device = self.encoder.token_embedding.weight.device
        ids, mask = self.tokenizer(prompts)  # [B, L], [B, L]
        ids, mask = ids.to(device), mask.to(device)
        out = self.encoder(ids, mask).float()  # [B, L, C]
        return out * mask[:, :, None].float()


class RandomPromptEncoder:
    """A stand-in text side for timing an architecture with random weights: each prompt gets a fixed random
    embedding (seeded by its text), float32 [B, text_len, dim] on the CPU, at no cost, as a cached
    prompt would be. It means nothing: never use it to restyle."""

    def __init__(self, text_len: int, dim: int) -> None:
        self.text_len, self.dim = text_len, dim

    def encode(self, prompts: list[str]) -> Tensor:
        out = []
        for p in prompts:
            g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little"))
            out.append(torch.randn(self.text_len, self.dim, generator=g))  # [L, C]
        return torch.stack(out)  # [B, L, C]


def _fingerprint(encoder: UMT5Encoder, text_len: int) -> str:
    c = encoder.config
    digest = hashlib.sha256(repr((astuple(c), text_len)).encode())
    for tensor in (encoder.norm.weight, cast(T5Block, encoder.blocks[0]).pos_embedding.embedding.weight):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return f"umt5-d{c.dim}-l{c.num_layers}-t{text_len}-{digest.hexdigest()[:16]}"


class PromptNotCachedError(LookupError):
    pass


class PromptCache:
    """Prompt embeddings on disk: one safetensors file per (encoder identity, prompt), holding the real
    tokens only ("embedding" float32 [n, dim]), plus index.json mapping each file to its prompt."""

    INDEX = "index.json"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        index_path = self.folder / self.INDEX
        self.entries: dict[str, dict] = {}
        if index_path.is_file():
            try:
                self.entries = json.loads(index_path.read_text())["entries"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(
                    f"prompt cache index {index_path} is damaged ({e}); delete the folder and cache the prompts again"
                ) from e

    @staticmethod
    def key(identity: str, prompt: str) -> str:
        return hashlib.sha256(json.dumps([identity, clean_prompt(prompt)]).encode()).hexdigest()[:32]

    def identities(self) -> list[str]:
        return sorted({entry["identity"] for entry in self.entries.values()})

    def prompts(self, identity: str) -> list[str]:
        return sorted(e["prompt"] for e in self.entries.values() if e["identity"] == identity)

    def __contains__(self, item: tuple[str, str]) -> bool:
        return self.key(*item) in self.entries

    def get(self, identity: str, prompt: str) -> Tensor | None:
        """float32 [text_len, dim] zero padded, or None when the prompt is not cached."""
        from safetensors.torch import load_file

        entry = self.entries.get(self.key(identity, prompt))
        if entry is None:
            return None
        real = load_file(self.folder / entry["file"])["embedding"]  # [n, C]
        out = real.new_zeros(entry["text_len"], real.shape[1])  # [L, C]
        out[: real.shape[0]] = real
        return out

    def put(self, identity: str, prompt: str, embedding: Tensor) -> None:
        """Store embedding [text_len, dim] (zero past the prompt's tokens, as PromptEncoders give)."""
        from safetensors.torch import save_file

        if embedding.ndim != 2:
            raise ValueError(f"PromptCache.put: embedding must be [text_len, dim], got {list(embedding.shape)}")
        nonzero = embedding.abs().sum(dim=1).nonzero()
        n = int(nonzero[-1]) + 1 if len(nonzero) else 0
        key = self.key(identity, prompt)
        self.folder.mkdir(parents=True, exist_ok=True)
        save_file({"embedding": embedding[:n].float().contiguous().cpu()}, str(self.folder / f"{key}.safetensors"))
        self.entries[key] = {
            "identity": identity,
            "prompt": clean_prompt(prompt),
            "file": f"{key}.safetensors",
            "text_len": embedding.shape[0],
            "tokens": n,
        }
        tmp = self.folder / f"{self.INDEX}.tmp"
        tmp.write_text(json.dumps({"version": 1, "entries": self.entries}, indent=1, ensure_ascii=False))
        os.replace(tmp, self.folder / self.INDEX)


def cache_prompts(
    encoder: PromptEncoder, prompts: list[str], folder: str | Path, identity: str | None = None, batch_size: int = 8
) -> PromptCache:
    """Encode prompts once and store them in a PromptCache in folder (identity defaults to the encoder's)."""
    identity = identity or getattr(encoder, "identity", None)
    if not identity:
        raise ValueError("cache_prompts: this encoder has no `identity`; pass identity='...' to name its weights")
    cache = PromptCache(folder)
    todo = [p for p in dict.fromkeys(prompts) if (identity, p) not in cache]
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        for prompt, embedding in zip(batch, encoder.encode(batch), strict=True):
            cache.put(identity, prompt, embedding)
    return cache


class CachedPromptEncoder:
    """Serves prompts cached by cache_prompts with no model loaded: float32 [B, text_len, dim] on CPU."""

    def __init__(self, folder: str | Path, identity: str | None = None) -> None:
        self.cache = PromptCache(folder)
        identities = self.cache.identities()
        if identity is None:
            if len(identities) != 1:
                found = ", ".join(identities) if identities else "none (no cached prompts)"
                raise ValueError(
                    f"prompt cache {self.cache.folder}: pass identity=... to choose an encoder; "
                    f"found {found}. {_HOW_TO_CACHE}"
                )
            identity = identities[0]
        self.identity = identity

    def encode(self, prompts: list[str]) -> Tensor:
        found = [self.cache.get(self.identity, p) for p in prompts]
        missing = [p for p, e in zip(prompts, found, strict=True) if e is None]
        if missing:
            raise PromptNotCachedError(
                f"prompt cache {self.cache.folder} has no embedding from {self.identity} for "
                f"{', '.join(repr(p) for p in missing)}. {_HOW_TO_CACHE}"
            )
        return torch.stack([e for e in found if e is not None])  # [B, L, C] (none is missing here)


_HOW_TO_CACHE = (
    "To cache a prompt, load the umT5 encoder once and run "
    "v2v.models.text.cache_prompts(T5PromptEncoder(load_text_encoder(T5_FILE, T5Config()), "
    "T5Tokenizer(TOKENIZER_FOLDER)), [PROMPT, ...], CACHE_FOLDER)."
)
