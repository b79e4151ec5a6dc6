"""Attention backends, chosen once by name: "sdpa" (the reference), "flex", "flash".

Shape letters: B batch, N heads, L query tokens, S key tokens, D head dim.

Every backend is a plain function `fn(q, k, v, mask) -> out` on q [B, N, L, D], k/v [B, N, S, D],
returning [B, N, L, D]. `mask` is None (every query sees every key) or a `BlockCausal` spec (queries
and keys are the same L tokens of a clip cut into blocks; a token of block i sees blocks <= i).
Masks are built once per (spec, device) and cached.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from torch.nn.attention.flex_attention import BlockMask


@dataclass(frozen=True)
class BlockCausal:
    """Block-causal self-attention over `tokens` tokens in blocks of `block` tokens."""

    tokens: int  # L, query = key tokens of the whole clip
    block: int  # tokens per block (frames_per_block · tokens per frame), >= 1


AttentionFn = Callable[[Tensor, Tensor, Tensor, BlockCausal | None], Tensor]


@functools.lru_cache(maxsize=16)
def block_causal_bool(spec: BlockCausal, device: torch.device) -> Tensor:
    """Boolean mask [L, L], True where the query (row) may attend to the key (column)."""
    block_of = torch.arange(spec.tokens, device=device) // spec.block  # [L]
    return block_of[None, :] <= block_of[:, None]  # [L, L]


def _check(q: Tensor, k: Tensor, v: Tensor, mask: BlockCausal | None) -> None:
    assert q.dim() == 4 and k.shape == v.shape and q.shape[:2] == k.shape[:2], (
        f"attention wants q [B,N,L,D], k/v [B,N,S,D]; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
    )
    assert mask is None or q.shape[2] == k.shape[2] == mask.tokens, (
        f"block-causal mask for {mask and mask.tokens} tokens, got L={q.shape[2]}, S={k.shape[2]}"
    )


def sdpa(q: Tensor, k: Tensor, v: Tensor, mask: BlockCausal | None = None) -> Tensor:
    """torch scaled_dot_product_attention; the reference every other backend is tested against."""
    _check(q, k, v, mask)
    attn_mask = None if mask is None else block_causal_bool(mask, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [B, N, L, D]


@functools.lru_cache(maxsize=16)
def _flex_block_mask(spec: BlockCausal, device: torch.device) -> BlockMask:
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return kv_idx // spec.block <= q_idx // spec.block

    return create_block_mask(mask_mod, None, None, spec.tokens, spec.tokens, device=str(device))


@functools.lru_cache(maxsize=2)
def _flex_kernel(device_type: str) -> Callable[..., Any]:  # flex_attention: overloaded on its return_lse
    from torch.nn.attention.flex_attention import flex_attention

    # Compiled, flex is a fused kernel; on the CPU we call it eagerly (correct, unfused) so that
    # no C++ toolchain is needed.
    if device_type == "cuda":
        return torch.compile(flex_attention, dynamic=False)
    return flex_attention


def flex(q: Tensor, k: Tensor, v: Tensor, mask: BlockCausal | None = None) -> Tensor:
    """torch.nn.attention.flex_attention with a cached BlockMask (skips fully masked tiles)."""
    _check(q, k, v, mask)
    block_mask = None if mask is None else _flex_block_mask(mask, q.device)
    return _flex_kernel(q.device.type)(q, k, v, block_mask=block_mask)  # [B, N, L, D]


def flash(q: Tensor, k: Tensor, v: Tensor, mask: BlockCausal | None = None) -> Tensor:
    """flash-attn 2 (CUDA, fp16/bf16); block-causal runs one call per query block on its prefix."""
    from flash_attn import flash_attn_func

    _check(q, k, v, mask)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))  # [B, L, N, D]
    if mask is None:
        return flash_attn_func(qt, kt, vt).transpose(1, 2)  # [B, N, L, D]
    outs = []
    for start in range(0, mask.tokens, mask.block):
        end = min(start + mask.block, mask.tokens)
        outs.append(flash_attn_func(qt[:, start:end], kt[:, :end], vt[:, :end]))  # [B, l, N, D]
    return torch.cat(outs, dim=1).transpose(1, 2)  # [B, N, L, D]


def _flex_unavailable() -> str | None:
    if importlib.util.find_spec("torch.nn.attention.flex_attention") is None:
        return f"torch {torch.__version__} has no torch.nn.attention.flex_attention (needs >= 2.5)"
    return None


def _flash_unavailable() -> str | None:
    if not torch.cuda.is_available():
        return "flash-attn needs a CUDA GPU; none is visible to torch"
    if importlib.util.find_spec("flash_attn") is None:
        return "flash-attn is not installed (pip install flash-attn --no-build-isolation)"
    return None


_BACKENDS: dict[str, tuple[AttentionFn, Callable[[], str | None]]] = {
    "sdpa": (sdpa, lambda: None),
    "flex": (flex, _flex_unavailable),
    "flash": (flash, _flash_unavailable),
}


def available_backends() -> dict[str, str | None]:
    """Every registered backend -> None when usable here, else the reason it is not."""
    return {name: why() for name, (_, why) in _BACKENDS.items()}


def get_backend(name: str) -> AttentionFn:
    """The attention function registered as `name`; raises ValueError saying why it cannot run."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {sorted(_BACKENDS)}")
    fn, why = _BACKENDS[name]
    reason = why()
    if reason is not None:
        raise ValueError(f"attention backend {name!r} is unavailable: {reason}")
    return fn
