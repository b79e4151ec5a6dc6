"""The micro DiT of the unit tests: two latent channels, dim 16, text dim 8, a context of 4 tokens."""

from __future__ import annotations

import torch

from v2v.models.dit import DiT, DiTConfig

MICRO = dict(dim=16, ffn_dim=16, freq_dim=8, text_dim=8, in_dim=2, out_dim=2, num_heads=2, num_layers=2, text_len=4)


def micro_dit(seed: int | None = 0, **overrides: object) -> DiT:
    """A micro DiT in eval mode, `overrides` replacing MICRO's fields (causal, num_layers, source_channels, ...);
    its weights drawn after `torch.manual_seed(seed)` (None: from the generator as it stands)."""
    if seed is not None:
        torch.manual_seed(seed)
    return DiT(DiTConfig(**{**MICRO, **overrides})).eval()  # type: ignore[arg-type]
