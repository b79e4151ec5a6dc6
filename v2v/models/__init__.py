"""Models: one DiT (teacher and causal student), the Wan2.1 VAE, the fast small VAE, text encoders,
and checkpoint loading for every public layout. See docs/interfaces.md."""

from v2v.models.dit import DiT, DiTConfig
from v2v.models.kv_cache import KVCache
from v2v.models.loading import CheckpointError, load_dit, load_text_encoder, load_vae
from v2v.models.text import T5Config, UMT5Encoder
from v2v.models.vae import VAEConfig, WanVAE

__all__ = [
    "CheckpointError",
    "DiT",
    "DiTConfig",
    "KVCache",
    "T5Config",
    "UMT5Encoder",
    "VAEConfig",
    "WanVAE",
    "load_dit",
    "load_text_encoder",
    "load_vae",
]
