"""A small CNN that tells which style (data.STYLES) a frame is in: a weight-light judge for
evaluation ("did the restyled output become realistic?"), trained on procedural data only.

    styles = classify(frames)          # uint8 [T, H, W, 3] or float [T, 3, H, W] in [-1, 1]
    probs = classify_proba(frames)     # float32 [T, len(STYLES)]

Frames of any size are area-downscaled to a square `input_size` (aspect ratio is not kept; the
classifier is trained that way). Weights: v2v/weights/style_classifier.safetensors + .json config.
Train again with `python -m v2v.train.classifier` (a few minutes on one CPU core).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from v2v.train.data import HELDOUT_SEED, STYLES, render_styles, sample_scene

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "weights" / "style_classifier.safetensors"


@dataclass(frozen=True)
class ClassifierConfig:
    input_size: int = 64  # frames are resized to input_size^2
    widths: tuple[int, ...] = (16, 32, 48, 64)  # channels of the stride-2 conv stages
    styles: tuple[str, ...] = STYLES  # class names, in logit order


class StyleClassifier(nn.Module):
    """Stride-2 conv stages, then mean and std pooling (style lives in texture statistics)."""

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = 3
        for w in cfg.widths:
            layers += [
                nn.Conv2d(c, w, 3, stride=2, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, padding=1),
                nn.ReLU(),
            ]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c, len(cfg.styles))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float [B, 3, S, S] in [-1, 1], S = input_size -> logits [B, n_styles]."""
        f = self.features(x)  # [B, C, S/16, S/16]
        pooled = torch.cat([f.mean((2, 3)), f.std((2, 3))], dim=1)  # [B, 2C]
        return self.head(pooled)


def prepare(frames: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] or float [T, 3, H, W] in [-1, 1] -> float [T, 3, size, size] in [-1, 1]."""
    if isinstance(frames, np.ndarray) and frames.dtype == np.uint8:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [T, H, W, 3], got shape {frames.shape}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
    else:
        x = torch.as_tensor(frames).float()
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected float frames [T, 3, H, W] in [-1, 1], got {tuple(x.shape)}")
    return F.interpolate(x, size=(size, size), mode="area")


# ----------------------------------------------------------------------------------------------
# Data


def _sizes(rng: np.random.Generator) -> tuple[int, int]:
    h = int(rng.choice([64, 96, 128, 160]))
    return (int(h * rng.choice([1.0, 1.0, 1.5, 1.75])) // 2 * 2, h)


def make_examples(
    seeds: Iterable[int],
    frames_per_scene: int,
    size: int,
    rng: np.random.Generator,
    random_sizes: bool = True,
    styles: tuple[str, ...] = STYLES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`styles` of each scene: (x float [N, 3, size, size], labels int64 [N], the index in `styles`)."""
    xs, ys = [], []
    for seed in seeds:
        render = _sizes(rng) if random_sizes else (128, 128)
        start = int(rng.integers(0, 1000))
        clips = render_styles(sample_scene(int(seed)), styles, frames_per_scene, render, start)
        for label, style in enumerate(styles):
            xs.append(prepare(clips[style], size))
            ys.append(torch.full((frames_per_scene,), label, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blur, noise and a small brightness/contrast jitter, so model outputs are judged fairly."""
    B = x.shape[0]
    blur = torch.rand(B, generator=g) < 0.3
    if blur.any():
        soft = F.avg_pool2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = x.clone()
        x[blur] = soft
    x = x * (1 + 0.1 * torch.randn(B, 1, 1, 1, generator=g)) + 0.05 * torch.randn(B, 1, 1, 1, generator=g)
    noise = torch.rand(B, 1, 1, 1, generator=g) * 0.06
    x = x + noise * torch.randn(x.shape, generator=g)
    flip = torch.rand(B, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x.clamp(-1, 1)


# ----------------------------------------------------------------------------------------------
# Training, saving, loading


def train_classifier(
    steps: int = 1500,
    seed: int = 0,
    scenes: int = 600,
    batch: int = 64,
    cfg: ClassifierConfig = ClassifierConfig(),
    log_every: int = 250,
) -> StyleClassifier:
    """Train on `scenes` training-split scenes (all styles, 3 frames each) for `steps` batches."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, HELDOUT_SEED, scenes)
    x, y = make_examples(seeds, 3, cfg.input_size, rng, styles=cfg.styles)
    model = StyleClassifier(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        loss = F.cross_entropy(model(_augment(x[idx], g)), y[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {loss.item():.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def evaluate(model: StyleClassifier, scenes: int = 200, frames_per_scene: int = 2, seed: int = 1) -> float:
    """Accuracy on held-out scenes (seeds HELDOUT_SEED ..), all styles, random sizes."""
    rng = np.random.default_rng(seed)
    seeds = range(HELDOUT_SEED, HELDOUT_SEED + scenes)
    x, y = make_examples(seeds, frames_per_scene, model.cfg.input_size, rng, styles=model.cfg.styles)
    model.eval()
    pred = torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, x.shape[0], 256)])
    return float((pred == y).float().mean())


def save_classifier(model: StyleClassifier, path: str | Path = DEFAULT_PATH) -> None:
    """Weights as safetensors at `path`, the config as JSON beside it (same name, .json)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    path.with_suffix(".json").write_text(json.dumps(asdict(model.cfg), indent=2) + "\n")


def load_classifier(path: str | Path = DEFAULT_PATH) -> StyleClassifier:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no style classifier at {path}; train one with `python -m v2v.train.classifier`")
    raw = json.loads(path.with_suffix(".json").read_text())
    cfg = ClassifierConfig(input_size=raw["input_size"], widths=tuple(raw["widths"]), styles=tuple(raw["styles"]))
    model = StyleClassifier(cfg)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@functools.lru_cache(maxsize=1)
def _default_model() -> StyleClassifier:
    return load_classifier(DEFAULT_PATH)


@torch.no_grad()
def classify_proba(frames: np.ndarray | torch.Tensor, model: StyleClassifier | None = None) -> np.ndarray:
    """Style probabilities float32 [T, len(model.cfg.styles)] for each frame."""
    model = _default_model() if model is None else model
    x = prepare(frames, model.cfg.input_size)
    return torch.softmax(model(x), dim=1).numpy().astype(np.float32)


def classify(frames: np.ndarray | torch.Tensor, model: StyleClassifier | None = None) -> list[str]:
    """The most likely style name of each frame."""
    model = _default_model() if model is None else model
    return [model.cfg.styles[i] for i in classify_proba(frames, model).argmax(1)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="train the style classifier on procedural data")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--scenes", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_PATH)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model = train_classifier(args.steps, args.seed, args.scenes)
    acc = evaluate(model)
    save_classifier(model, args.out)
    print(f"held-out accuracy {acc:.4f} ({time.time() - t0:.0f} s); saved {args.out}")


if __name__ == "__main__":
    main()
