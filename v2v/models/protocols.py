"""The parts of a ModelBundle besides the DiT, as protocols: what the engine, the capture runtime and the
training stages call on a bundle's autoencoder (`bundle.vae`) and prompt encoder (`bundle.text`).

The implementations do not inherit from these classes; they match them member by member (docs/interfaces.md):
autoencoders `WanVAE` (vae.py) and `TinyVAE` (tiny_vae.py); prompt encoders `T5PromptEncoder`,
`CachedPromptEncoder`, `RandomPromptEncoder` (text.py) and `WordPromptEncoder` (word_text.py). Members that
only one implementation has (TinyVAE's raw coders, WordPromptEncoder's config) are reached after an
`isinstance` check, never through these protocols.

Shape letters: B batch, T pixel frames, F latent frames, H/W pixels, h/w latent (H/8, W/8), z latent
channels, L text tokens (text_len), D text width.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class StreamCoder(Protocol):
    """A stateful streaming encoder or decoder: each call continues the stream of the calls before it."""

    def __call__(self, x: Tensor, /) -> Tensor:
        """Encoder: pixels float [B, 3, T, H, W] in [-1, 1] (first call T = 1 + 4k, later 4k) -> normalised
        latents [B, z, F, h, w]. Decoder: normalised latents [B, z, F, h, w] -> pixels [B, 3, T, H, W] in
        [-1, 1] (the first latent of the stream gives 1 frame, every later one 4)."""

    def reset(self) -> None:
        """Forget the stream: the next call is a first call again."""


class VideoAutoencoder(Protocol):
    """A video autoencoder: T = 1 + 4k pixel frames <-> F = 1 + k latent frames at 1/8 of the size."""

    @property
    def z_dim(self) -> int:
        """Latent channels (the DiT's in_dim / out_dim)."""

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent along H and along W (8)."""

    @property
    def temporal_factor(self) -> int:
        """Pixel frames per latent frame after the first (4)."""

    def encode(self, video: Tensor) -> Tensor:
        """video float [B, 3, 1+4k, H, W] in [-1, 1], H and W multiples of 8 -> normalised latents
        [B, z, 1+k, H/8, W/8]."""

    def decode(self, z: Tensor) -> Tensor:
        """normalised latents [B, z, F, h, w] -> video [B, 3, 1+4(F-1), 8h, 8w] in [-1, 1] (clamped)."""

    def stream_encoder(self) -> StreamCoder:
        """A new streaming encoder over these weights."""

    def stream_decoder(self) -> StreamCoder:
        """A new streaming decoder over these weights."""


class PromptEncoder(Protocol):
    """What the engine needs from a text side."""

    def encode(self, prompts: list[str]) -> Tensor:
        """prompts -> float32 [B, L, D] (B = len(prompts)), zero past each prompt's length."""
