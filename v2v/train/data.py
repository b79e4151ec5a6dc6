"""Procedural training video: one scene rendered in several styles with exact shared geometry.

    scene = sample_scene(seed)                       # deterministic by seed, any of KINDS
    clip = render_clip(scene, "blocky", frames=17)   # uint8 [T, H, W, 3] RGB
    text = caption(scene, "realistic")               # words from VOCAB

A scene is one of three kinds, named by its `kind` field: "side" (a 2.5-D side view, scenes.py and
raster.py), "voxel" (a first-person 3-D voxel world, voxel.py and raster_voxel.py) and "topdown" (a
top-down tile map, topdown.py). Each rasteriser writes the same GBuffer, and the styles (styles.py,
styles_paint.py) are functions of it; docs/data.md describes them.

Train/held-out split by seed: training seeds are in [0, HELDOUT_SEED), held-out
seeds are >= HELDOUT_SEED (1_000_000).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from v2v.pixels import to_float
from v2v.train.raster import rasterize
from v2v.train.raster_voxel import rasterize_voxel
from v2v.train.scenes import GRASS, SAND, SNOW, GBuffer, SceneSpec, hash01
from v2v.train.scenes import sample_scene as sample_side
from v2v.train.styles import STYLE_FUNCS, STYLES
from v2v.train.topdown import TopdownSpec, rasterize_topdown, sample_topdown
from v2v.train.voxel import VoxelSpec, sample_voxel

__all__ = [
    "STYLES",
    "KINDS",
    "Scene",
    "SceneSpec",
    "VoxelSpec",
    "TopdownSpec",
    "sample_scene",
    "scene_kind",
    "rasterize_scene",
    "render_clip",
    "render_styles",
    "caption",
    "VOCAB",
    "style_prompt",
    "ClipDataset",
    "ClipDatasetConfig",
    "HELDOUT_SEED",
    "heldout_seeds",
]

HELDOUT_SEED = 1_000_000
_CHUNK = 16  # frames rasterised at once (bounds memory for long clips)

Scene = SceneSpec | VoxelSpec | TopdownSpec
KINDS: tuple[str, ...] = ("side", "voxel", "topdown")
KIND_SHARES: tuple[float, ...] = (0.4, 0.4, 0.2)  # how often sample_scene draws each kind
_SAMPLERS: dict[str, Callable[[int], Scene]] = {"side": sample_side, "voxel": sample_voxel, "topdown": sample_topdown}
# each rasterizer takes its own kind of spec: (spec, start, frames, size, blocky) -> GBuffer
_RASTERIZERS: dict[str, Callable[..., GBuffer]] = {
    "side": rasterize,
    "voxel": rasterize_voxel,
    "topdown": rasterize_topdown,
}


def scene_kind(seed: int) -> str:
    """The kind sample_scene(seed) draws: a hash of the seed, independent of the scene's own draws
    (so a side-view seed gives the same side view as a sampler of side views only)."""
    u = float(hash01(int(seed), 7001, np.zeros(1, np.int64))[0])
    return KINDS[int(np.searchsorted(np.cumsum(KIND_SHARES), u, side="right"))]


def sample_scene(seed: int, kind: str | None = None) -> Scene:
    """A random scene, fully determined by `seed` (any int >= 0); kind None draws it from the seed
    (KIND_SHARES), else one of KINDS."""
    kind = scene_kind(seed) if kind is None else kind
    if kind not in _SAMPLERS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {KINDS}")
    return _SAMPLERS[kind](seed)


def rasterize_scene(scene: Scene, start: int, frames: int, size: tuple[int, int], blocky: bool) -> GBuffer:
    """The G-buffer of frames start .. start+frames-1 of any kind of scene at size (W, H)."""
    return _RASTERIZERS[scene.kind](scene, start, frames, size, blocky)


def render_clip(
    scene: Scene, style: str, frames: int, size: tuple[int, int] = (256, 256), start: int = 0
) -> np.ndarray:
    """Frames start .. start+frames-1 of `scene` in `style` -> uint8 [T, H, W, 3] RGB, size = (W, H).

    Any aspect ratio works without distortion (wider frames see more of the world). Rendering in
    pieces with `start` gives exactly the frames of rendering in one go.
    """
    return render_styles(scene, (style,), frames, size, start)[style]


def render_styles(
    scene: Scene, styles: Iterable[str], frames: int, size: tuple[int, int] = (256, 256), start: int = 0
) -> dict[str, np.ndarray]:
    """{style: uint8 [T, H, W, 3]} for each style; the smooth G-buffer is shared between styles."""
    styles = tuple(styles)
    for s in styles:
        if s not in STYLE_FUNCS:
            raise ValueError(f"unknown style {s!r}; expected one of {STYLES}")
    W, H = size
    if frames < 0 or W < 8 or H < 8:
        raise ValueError(f"need frames >= 0 and size >= (8, 8), got frames={frames}, size={size}")
    out = {s: np.empty((frames, H, W, 3), np.uint8) for s in styles}
    for c0 in range(0, frames, _CHUNK):
        n = min(_CHUNK, frames - c0)
        cache: dict[bool, GBuffer] = {}
        for s in styles:
            blocky = s == "blocky"
            if blocky not in cache:
                cache[blocky] = rasterize_scene(scene, start + c0, n, (W, H), blocky)
            out[s][c0 : c0 + n] = STYLE_FUNCS[s](cache[blocky], scene)
    return out


# ----------------------------------------------------------------------------------------------
# Captions: "<article> <style words> <place> with <content> <motion> <time>"

_STYLE_WORDS = {
    "blocky": ("blocky", "voxel", "minecraft style", "pixelated blocky", "low poly voxel"),
    "realistic": ("realistic", "photorealistic", "natural", "detailed realistic", "real"),
    "sketch": ("pencil sketch", "hand drawn", "black and white sketch", "pencil drawing"),
    "toon": ("cartoon", "toon shaded", "cel shaded", "colorful cartoon", "anime style"),
    "night": ("dark", "moonlit", "night time", "starry night"),
    "oil": ("oil painting", "oil painted", "impasto", "painterly", "oil on canvas"),
    "watercolor": ("watercolor", "watercolor painting", "soft watercolor", "watercolour", "aquarelle"),
    "neon": ("neon", "cyberpunk", "neon cyberpunk", "synthwave", "glowing neon"),
}
_PLACE_WORDS = {
    "meadow": ("landscape", "meadow", "countryside"),
    "forest": ("forest", "woodland", "landscape"),
    "village": ("village", "town", "landscape"),
    "desert": ("desert", "desert landscape", "landscape"),
    "snowy": ("snowy landscape", "winter landscape", "landscape"),
}
_MOTION_WORDS = {
    "pan": ("camera panning", "panning view"),
    "walk": ("walking forward", "camera moving"),
    "zoom": ("camera zooming", "zooming view"),
    "still": ("static camera", "still view"),
    "turn": ("turning around", "looking around"),
    "fly": ("flying", "aerial view"),
    "scroll": ("scrolling view", "camera scrolling"),
}
# A voxel or top-down scene's place: one of these with the biome's place words, or the last alone.
_KIND_PLACE = {
    "voxel": ("first person {}", "first person view of a {}", "first person world"),
    "topdown": ("top down {}", "top down view of a {}", "top down map"),
}
_GROUND_WORDS = {GRASS: "grass", SAND: "sand", SNOW: "snow"}
_TIME_WORDS = {
    "morning": ("in the morning", "at dawn"),
    "noon": ("at noon", "on a sunny day"),
    "afternoon": ("in the afternoon", "on a sunny day"),
    "sunset": ("at sunset", "at dusk"),
    "night": ("at night", "under the moon"),
}
_ANIMAL_PLURAL = {"sheep": "sheep", "pig": "pigs", "cow": "cows", "horse": "horses", "bird": "birds", "boat": "boats"}
_GLUE_WORDS = ("a", "an", "with", "and")
_CONTENT_WORDS = ("hills", "mountains", "pine trees", "trees", "houses", "a lake", "paths")
_STYLE_PROMPT = {
    "blocky": "a blocky landscape",
    "realistic": "a realistic landscape",
    "sketch": "a pencil sketch landscape",
    "toon": "a cartoon landscape",
    "night": "a landscape at night",
    "oil": "an oil painting landscape",
    "watercolor": "a watercolor landscape",
    "neon": "a neon cyberpunk landscape",
}


def style_prompt(style: str) -> str:
    """The canonical short prompt of a style, e.g. "realistic" -> "a realistic landscape"."""
    if style not in _STYLE_PROMPT:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    return _STYLE_PROMPT[style]


def short_caption(style: str, rng: np.random.Generator | None = None) -> str:
    """A prompt that names the style and nothing of the scene, as a user types one: the canonical
    `style_prompt` ("a cartoon landscape"), "<article> <style words> landscape" ("a cel shaded landscape")
    or the style words alone ("cel shaded"). rng=None gives the canonical one. Training on these teaches
    the models that the scene (its layout and palette) comes from the input, not from the prompt."""
    if style not in _STYLE_WORDS:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    if rng is None:
        return _STYLE_PROMPT[style]
    form = int(rng.integers(3))
    if form == 0:
        return _STYLE_PROMPT[style]
    words = _STYLE_WORDS[style][int(rng.integers(len(_STYLE_WORDS[style])))]
    if form == 2:
        return words
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words} landscape"


def _content(scene: Scene) -> list[str]:
    items = [] if scene.kind == "topdown" else ["mountains" if scene.has_mountains else "hills"]
    if isinstance(scene, TopdownSpec):
        items.append(_GROUND_WORDS[scene.ground])
    trees = scene.trees()
    if trees:
        items.append(trees)
    if scene.houses():
        items.append("houses")
    if scene.water:
        items.append("a lake")
    if isinstance(scene, TopdownSpec) and scene.paths:
        items.append("paths")
    kinds = []
    for m in getattr(scene, "movers", ()):
        if _ANIMAL_PLURAL[m.kind] not in kinds:
            kinds.append(_ANIMAL_PLURAL[m.kind])
    return items + kinds


def _places(scene: Scene, style: str) -> tuple[str, ...]:
    base = _PLACE_WORDS[scene.biome]
    if scene.kind == "side":
        return base
    forms = _KIND_PLACE[scene.kind]
    places = tuple(f.format(p) for f in forms[:2] for p in dict.fromkeys(base)) + forms[2:]
    if scene.kind == "voxel" and style == "blocky":
        places = ("voxel world",) + places
    return places


def caption(scene: Scene, style: str, rng: np.random.Generator | None = None) -> str:
    """A caption from the grammar above; rng=None gives the canonical (first-choice) caption."""
    if style not in _STYLE_WORDS:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")

    def pick(options: tuple[str, ...]) -> str:
        return options[0] if rng is None else options[int(rng.integers(len(options)))]

    style_words = pick(_STYLE_WORDS[style])
    article = "an" if style_words[0] in "aeiou" else "a"
    items = _content(scene)
    if rng is not None:
        keep = [x for x in items if rng.random() < 0.75] or items[:1]
        items = [keep[i] for i in rng.permutation(len(keep))]
    content = items[0] if len(items) == 1 else " ".join(items[:-1]) + " and " + items[-1]
    words = [article, style_words, pick(_places(scene, style)), "with", content]
    if rng is None or rng.random() < 0.7:
        words.append(pick(_MOTION_WORDS[scene.camera.motion]))
    tod = "night" if style in ("night", "neon") else scene.time_of_day
    if rng is None or rng.random() < 0.8:
        words.append(pick(_TIME_WORDS[tod]))
    return " ".join(words)


def _vocab() -> tuple[str, ...]:
    phrases = list(_GLUE_WORDS + _CONTENT_WORDS) + list(_ANIMAL_PLURAL.values())
    phrases += list(_GROUND_WORDS.values()) + ["voxel world"]
    phrases += [
        f.format(p) for forms in _KIND_PLACE.values() for f in forms for places in _PLACE_WORDS.values() for p in places
    ]
    for table in (_STYLE_WORDS, _PLACE_WORDS, _MOTION_WORDS, _TIME_WORDS):
        for options in table.values():
            phrases += options
    words = {w for phrase in phrases + list(_STYLE_PROMPT.values()) for w in phrase.split()}
    return tuple(sorted(words))


VOCAB: tuple[str, ...] = _vocab()


# ----------------------------------------------------------------------------------------------
# Dataset


def heldout_seeds(n: int) -> list[int]:
    """The first n held-out scene seeds (HELDOUT_SEED, HELDOUT_SEED + 1, ...)."""
    return [HELDOUT_SEED + i for i in range(n)]


@dataclass(frozen=True)
class ClipDatasetConfig:
    frames: int = 17  # pixel frames per clip (1 + 4k for the Wan VAE)
    size: tuple[int, int] = (256, 256)  # (W, H)
    styles: tuple[str, ...] = STYLES  # styles to draw from
    split: str = "train"  # "train": seeds < HELDOUT_SEED; "heldout": >=
    seed: int = 0  # stream seed (train: which scenes; heldout: offset)
    max_start: int = 2000  # clip start frame drawn from [0, max_start]
    source_style: str | None = None  # also yield "source": the clip in this style
    length: int | None = None  # clips per iteration; None = endless


class ClipDataset(torch.utils.data.IterableDataset):
    """Endless (or `length`) stream of procedural clips.

    Yields {"video": float32 [3, T, H, W] in [-1, 1], "style": str, "caption": str, "seed": int,
    "start": int} and, with `source_style`, also "source" (same layout, the same frames in that
    style) and "source_style". Train scenes use seeds in [0, HELDOUT_SEED); the held-out split walks
    HELDOUT_SEED + cfg.seed, + 1, ... in order. Workers of a DataLoader get disjoint streams.
    """

    def __init__(self, cfg: ClipDatasetConfig = ClipDatasetConfig()) -> None:
        super().__init__()
        if cfg.split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {cfg.split!r}")
        self.cfg = cfg

    def __iter__(self) -> Iterator[dict]:
        cfg = self.cfg
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        rng = np.random.default_rng([cfg.seed, worker])
        i = worker
        while cfg.length is None or i < cfg.length:
            seed = int(rng.integers(0, HELDOUT_SEED)) if cfg.split == "train" else HELDOUT_SEED + cfg.seed + i
            i += workers
            yield self._item(seed, rng)

    def _item(self, seed: int, rng: np.random.Generator) -> dict:
        cfg = self.cfg
        scene = sample_scene(seed)
        style = cfg.styles[int(rng.integers(len(cfg.styles)))]
        start = int(rng.integers(0, cfg.max_start + 1))
        wanted = (style,) if cfg.source_style is None else (style, cfg.source_style)
        clips = render_styles(scene, wanted, cfg.frames, cfg.size, start)
        item = {
            "video": to_float(clips[style]).transpose(0, 1),  # [3, T, H, W]
            "style": style,
            "caption": caption(scene, style, rng),
            "seed": seed,
            "start": start,
        }
        if cfg.source_style is not None:
            item["source"] = to_float(clips[cfg.source_style]).transpose(0, 1)  # [3, T, H, W]
            item["source_style"] = cfg.source_style
        return item
