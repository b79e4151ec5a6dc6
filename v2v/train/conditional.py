"""The source-conditioned recipe (`TrainConfig.conditional`, `ConditionalConfig`): which clip is restyled into
which, for the teacher, the ODE pairs and DMD, and the small cache of real content they draw identity pairs from.

With `conditional.source` on, every DiT of the run (teacher, critic, student) has source_channels = the VAE's
z_dim: beside the noisy latents x_t it sees the clean latents of the clip it restyles (the engine passes the
chunk's clean latents; DiT.forward's `source`). A training clip is a `Pair`, a target and a source, each a
`Ref` into the latent cache (one scene, one style; every scene is cached in every style, the same frames):

- a captioned pair: a target style and a source style of the same scene, with the target's caption; with
  probability `identity` the source style is the target style (the model learns to keep what the prompt does
  not ask to change);
- an uncaptioned pair (the teacher's caption dropout, for classifier-free guidance): the target IS the source,
  so the empty prompt means "keep the picture", and guidance u + g·(c − u) pushes from keeping it toward the
  prompt's style;
- with probability `source_dropout` no source (zeros, the same as none: text to video, for generating and
  animating later), the target any style with its caption (or the empty prompt at the caption dropout);
- with probability `real`, a clip of real content (`RealLatents`: real images and video through the run's
  autoencoder): in the teacher and the paired terms an identity pair with the empty prompt, or for a photo half
  the time a realistic-style caption (`data.short_caption("realistic")`); in the ODE pairs and DMD starts, a
  real source restyled to a drawn style (its short caption; there is no ground truth).

Off, none of this runs, and the stages draw exactly what they drew before the option existed.

Shape letters: B batch, M real clips, z latent channels, F latent frames, h/w latent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from v2v.models.tiny_vae import TinyVAE
from v2v.pixels import to_float
from v2v.train.common import (
    ConditionalConfig,
    TrainConfig,
    build_vae,
    draw_seed,
    frozen,
    load_ckpt,
    pixel_frames,
    require_ckpt,
    save_ckpt,
)

REAL = -1  # the scene index of a Ref into the real latents: (REAL, k) is the k-th real clip
ENCODE_BATCH = 8  # real clips encoded at once
Ref = tuple[int, int]  # (scene, style) in the latent cache, or (REAL, k)


class Latents(Protocol):
    """What the planner reads of teacher.LatentCache."""

    latents: Tensor  # [N, S, z, F, h, w] float16
    seeds: list[int]
    styles: list[str]


@dataclass(frozen=True)
class Pair:
    """One training clip: the latents it should become and the clean latents it is told to restyle."""

    target: Ref | None  # None: no ground truth (a real clip restyled to another style)
    source: Ref | None  # None: no source (text to video; zeros as source channels)
    prompt: str

    @property
    def identity(self) -> bool:
        return self.source is not None and self.source == self.target


class RealLatents:
    """Latents of real, unpaired content, each clip its own identity pair: latents [M, z, F, h, w] float16 (the
    scene cache's frame count and size), `photo` per clip (a still: it may be captioned "realistic"), names.
    The hook for any extra content: build one from latents of other clips, e.g. with `encode_clips`."""

    def __init__(self, latents: Tensor, photo: list[bool], names: list[str]) -> None:
        assert latents.dim() == 5 and len(photo) == len(names) == latents.shape[0], (
            f"real latents must be [M, z, F, h, w] with M photo flags and names, got {tuple(latents.shape)}, "
            f"{len(photo)}, {len(names)}"
        )
        self.latents, self.photo, self.names = latents, photo, names

    def __len__(self) -> int:
        return self.latents.shape[0]

    @staticmethod
    def load(workdir: Path) -> RealLatents | None:
        """The run's real latent cache (WORKDIR/teacher/real_latents.pt), None where there is none."""
        state = load_ckpt(real_cache_path(workdir))
        return None if state is None else RealLatents(state["latents"], state["photo"], state["names"])


def real_cache_path(workdir: Path) -> Path:
    return workdir / "teacher" / "real_latents.pt"


@torch.no_grad()
def encode_clips(vae: TinyVAE, clips: list[np.ndarray]) -> Tensor:
    """uint8 clips [T, H, W, 3] (all one size, T = 1 + 4·(F − 1)) -> their latents [M, z, F, h, w] float16."""
    device = next(vae.parameters()).device
    out = []
    for i in range(0, len(clips), ENCODE_BATCH):
        batch = [to_float(c).transpose(0, 1) for c in clips[i : i + ENCODE_BATCH]]  # b × [3, T, H, W]
        videos = torch.stack(batch).to(device)  # [b, 3, T, H, W]
        out.append(vae.encode(videos).half().cpu())  # [b, z, F, h, w]
    return torch.cat(out)


def build_real_cache(
    workdir: Path, config: TrainConfig, log: logging.Logger, device: torch.device = torch.device("cpu")
) -> None:
    """Encode `conditional.real_clips` random moving views of the real training content (real_data.py) with the
    run's autoencoder, once: WORKDIR/teacher/real_latents.pt. Kept when it exists at the right size."""
    from v2v.train import real_data

    path = real_cache_path(workdir)
    W, H = config.size
    want = (config.conditional.real_clips, config.vae.z_dim, config.latent_frames, H // 8, W // 8)
    state = load_ckpt(path)
    if state is not None and tuple(state["latents"].shape) == want:
        return
    items = real_data.load_real("train")
    rng = np.random.default_rng(draw_seed(config.seed, "real latents", 0))
    picks = [items[int(rng.integers(len(items)))] for _ in range(want[0])]
    clips = [
        real_data.real_clip(item, rng, pixel_frames(config.latent_frames), (config.size[0], config.size[1]))
        for item in picks
    ]
    vae = frozen(build_vae(config, require_ckpt(workdir, "vae"))).to(device)
    latents = encode_clips(vae, clips)  # [M, z, F, h, w]
    save_ckpt(
        path,
        {
            "latents": latents,
            "photo": [item.frames.shape[0] == 1 for item in picks],
            "names": [item.name for item in picks],
        },
    )
    log.info(f"real latent cache: {want[0]} clips of {len(items)} real sources")


def other_style(rng: np.random.Generator, style: int, styles: int) -> int:
    """A style index other than `style`, uniform (the style itself when there is only one)."""
    return (style + 1 + int(rng.integers(0, styles - 1))) % styles if styles > 1 else style


def plan_pairs(
    cache: Latents,
    real: RealLatents | None,
    cond: ConditionalConfig,
    rng: np.random.Generator,
    batch: int,
    caption_dropout: float,
    caption_short: float,
    source_dropout: float,
    restyle_real: bool,
) -> list[Pair]:
    """`batch` training clips as the module docstring says. caption_dropout: the share of empty prompts (the
    teacher's; a captioned pair then becomes the identity pair); source_dropout: the share without a source;
    restyle_real: a real clip is a source restyled to a drawn style (ODE pairs, DMD starts) instead of an
    identity pair (teacher, paired terms). Real clips are drawn at `cond.real` only when `real` is given."""
    from v2v.train import data

    N, S = cache.latents.shape[:2]
    out: list[Pair] = []
    for _ in range(batch):
        if real is not None and len(real) and cond.real > 0 and rng.random() < cond.real:
            k = int(rng.integers(len(real)))
            if restyle_real:
                out.append(Pair(None, (REAL, k), data.short_caption(cache.styles[int(rng.integers(S))], rng)))
            else:
                photo = real.photo[k] and rng.random() < 0.5
                out.append(Pair((REAL, k), (REAL, k), data.short_caption("realistic", rng) if photo else ""))
            continue
        i, j = int(rng.integers(N)), int(rng.integers(S))
        dropped = rng.random() < source_dropout
        empty = rng.random() < caption_dropout
        if empty:
            prompt = ""
        elif caption_short > 0 and rng.random() < caption_short:
            prompt = data.short_caption(cache.styles[j], rng)
        else:
            prompt = data.caption(data.sample_scene(cache.seeds[i]), cache.styles[j], rng)
        if dropped:
            source = None
        elif empty or rng.random() < cond.identity:
            source = (i, j)
        else:
            source = (i, other_style(rng, j, S))
        out.append(Pair((i, j), source, prompt))
    return out


def lookup(cache: Latents, real: RealLatents | None, ref: Ref | None) -> Tensor:
    """The latents [z, F, h, w] float32 a Ref names; zeros for None."""
    if ref is None:
        return torch.zeros(cache.latents.shape[2:])
    scene, k = ref
    if scene == REAL:
        assert real is not None, "a Ref into the real latents needs them"
        return real.latents[k].float()
    return cache.latents[scene, k].float()


def pair_latents(cache: Latents, real: RealLatents | None, pairs: list[Pair]) -> tuple[Tensor, Tensor]:
    """-> (targets, sources), each [B, z, F, h, w] float32, full frame; zeros where a pair has none."""
    target = torch.stack([lookup(cache, real, p.target) for p in pairs])
    source = torch.stack([lookup(cache, real, p.source) for p in pairs])
    return target, source
