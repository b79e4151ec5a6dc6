"""Quality gates of the default model's parts, measured on held-out content.

    result = autoencoder_gates(vae)          # round trip of held-out real images/video and procedural clips
    result["real"]["psnr"], result["passed"]

The autoencoder gate (what a user sees before the DiT runs at all): on held-out real photos and frames,
mean PSNR >= 24 dB, Sobel edge correlation >= 0.8 and sharpness (Laplacian variance over the input's)
>= 0.5; on held-out procedural clips PSNR >= 28 dB. A blurred output fails on sharpness and edges, a
noisy one on PSNR; each threshold is checked in tests/v2v/train/test_gates.py against such outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from v2v import metrics

AE_GATES = {"real_psnr": 24.0, "real_edge_corr": 0.8, "real_sharpness": 0.5, "procedural_psnr": 28.0}


def square_view(image: np.ndarray, side: int) -> np.ndarray:
    """The largest centred square of a uint8 [H, W, 3] image, resized to side × side (area averaging)."""
    import cv2

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return cv2.resize(image[y : y + s, x : x + s], (side, side), interpolation=cv2.INTER_AREA)


def held_out_real(side: int = 256, frames: int = 9) -> dict[str, np.ndarray]:
    """name -> uint8 [T, side, side, 3]: each held-out photo as one frame, each held-out sequence as its
    first `frames` frames (T = 1 + 4k)."""
    from v2v.train.real_data import load_real

    out = {}
    for item in load_real("heldout"):
        clip = item.frames[:frames] if item.frames.shape[0] > 1 else item.frames[:1]
        out[item.name] = np.stack([square_view(f, side) for f in clip])
    return out


def held_out_procedural(side: int = 256, frames: int = 9, scenes: int = 3) -> dict[str, np.ndarray]:
    """name -> uint8 [T, side, side, 3]: held-out procedural scenes, each in a different style."""
    from v2v.train import data

    out = {}
    for i, seed in enumerate(data.heldout_seeds(scenes)):
        style = data.STYLES[i % len(data.STYLES)]
        out[f"scene {seed} {style}"] = data.render_clip(data.sample_scene(seed), style, frames, (side, side))
    return out


def round_trip_scores(codec: Callable[[np.ndarray], np.ndarray], clips: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per clip and mean PSNR (dB), edge correlation and sharpness of codec(clip) against the clip."""
    per: dict[str, dict[str, float]] = {}
    for name, clip in clips.items():
        out = codec(clip)
        per[name] = {
            "psnr": metrics.psnr(out, clip),
            "edge_corr": metrics.structure(out, clip)["edge_corr"],
            "sharpness": metrics.sharpness(out, clip),
        }
    mean = {k: float(np.mean([v[k] for v in per.values()])) for k in ("psnr", "edge_corr", "sharpness")}
    return {"clips": per, **mean}


def vae_codec(vae: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 [T, H, W, 3] -> the autoencoder's round trip, uint8 [T, H, W, 3]."""

    @torch.no_grad()
    def codec(clip: np.ndarray) -> np.ndarray:
        x = (
            torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).float()[None] / 127.5 - 1
        )  # [1, 3, T, H, W]
        y = vae.decode(vae.encode(x))[0]  # [3, T, H, W]
        return metrics.as_uint8_video(y.transpose(0, 1))  # [T, H, W, 3]

    return codec


def autoencoder_gates(vae: torch.nn.Module, side: int = 256) -> dict[str, Any]:
    """The autoencoder gate on held-out content: {"real": scores, "procedural": scores, "gates": {name:
    (value, threshold, passed)}, "passed": bool}."""
    codec = vae_codec(vae)
    real = round_trip_scores(codec, held_out_real(side))
    procedural = round_trip_scores(codec, held_out_procedural(side))
    values = {
        "real_psnr": real["psnr"],
        "real_edge_corr": real["edge_corr"],
        "real_sharpness": real["sharpness"],
        "procedural_psnr": procedural["psnr"],
    }
    gates = {k: (values[k], AE_GATES[k], values[k] >= AE_GATES[k]) for k in AE_GATES}
    return {"real": real, "procedural": procedural, "gates": gates, "passed": all(g[2] for g in gates.values())}
