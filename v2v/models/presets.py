"""Named configurations, one factory function each (keyword overrides allowed)."""

from __future__ import annotations

from typing import Any

from v2v.models.dit import DiTConfig
from v2v.models.text import T5Config
from v2v.models.vae import VAEConfig


def wan_1_3b(**kw: Any) -> DiTConfig:
    """Wan2.1-T2V-1.3B (and the CausVid / Self-Forcing / StreamDiffusionV2 students built on it)."""
    return DiTConfig(**{**dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30), **kw})


def wan_14b(**kw: Any) -> DiTConfig:
    """Wan2.1-T2V-14B."""
    return DiTConfig(**{**dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40), **kw})


def tiny(**kw: Any) -> DiTConfig:
    """A few-thousand-parameter DiT for unit tests (head dim 16)."""
    base = dict(
        dim=32, ffn_dim=64, freq_dim=32, text_dim=24, in_dim=4, out_dim=4, num_heads=2, num_layers=2, text_len=8
    )
    return DiTConfig(**{**base, **kw})


def wan_vae(**kw: Any) -> VAEConfig:
    """Wan2.1_VAE.pth."""
    return VAEConfig(**kw)


def tiny_vae_config(**kw: Any) -> VAEConfig:
    """A small Wan-architecture VAE for unit tests."""
    return VAEConfig(**{**dict(base_dim=8, z_dim=4, dim_mult=(1, 2, 2, 2)), **kw})


def umt5_xxl(**kw: Any) -> T5Config:
    """umT5-XXL encoder as shipped with Wan2.1 (models_t5_umt5-xxl-enc-bf16.pth)."""
    return T5Config(**kw)


def tiny_t5(**kw: Any) -> T5Config:
    """A small umT5 for unit tests."""
    base = dict(vocab=100, dim=32, dim_attn=32, dim_ffn=64, num_heads=4, num_layers=2, num_buckets=8)
    return T5Config(**{**base, **kw})
