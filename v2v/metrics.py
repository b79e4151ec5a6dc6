"""Weight-free video quality metrics: temporal consistency, flicker, structure, drift.

Pure functions of frames. Videos are uint8 RGB [T, H, W, 3]; float [T, 3, H, W] in [-1, 1] (numpy or
torch, the layout inside v2v) is accepted too and converted. OpenCV is imported lazily inside the
functions that need it (optical flow, blur, edges), so `import v2v` needs only numpy and torch.

    warp_error(video)                  0..1, lower is steadier (mean abs error of flow-warped frames)
    warp_error(output, flow_from=inp)  the output's consistency with the input's motion
    flicker(output, input)             mean |d output / dt| / mean |d input / dt|; 1 = as much change
    structure(output, input)           {"edge_f1", "edge_corr", "ssim", "psnr"}
    sharpness(output, reference)       Laplacian variance of the output over the reference's; 1 = as sharp
    stream_drift(video, window=100)    {metric: Drift(first, last, change)} first vs last window
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from v2v.pixels import to_uint8


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as e:
        raise ImportError("v2v.metrics needs OpenCV for this metric: pip install opencv-python-headless") from e
    return cv2


def as_uint8_video(video: Any) -> np.ndarray:
    """The metrics' input as uint8 [T, H, W, 3]: uint8 [T, H, W, 3] as it is, float [T, 3, H, W] in [-1, 1]
    (numpy or torch) through `v2v.pixels.to_uint8`."""
    if isinstance(video, np.ndarray) and video.dtype == np.uint8:
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"expected uint8 video [T, H, W, 3], got shape {video.shape}")
        return video
    x = video if isinstance(video, torch.Tensor) else torch.from_numpy(np.asarray(video))
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"expected float video [T, 3, H, W] in [-1, 1], got {x.dtype} shape {tuple(x.shape)}")
    return to_uint8(x)


def _gray(frame: np.ndarray) -> np.ndarray:
    """uint8 [H, W] luma of an RGB frame (BT.601)."""
    f = frame.astype(np.float32)
    return (f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Temporal consistency


def warp_error(frames: Any, flow_from: Any | None = None, fb_tolerance: float = 0.5) -> float:
    """Mean abs error (0..1, RGB / 255) between each frame and the previous one warped onto it.

    Flow is OpenCV DIS (medium preset) between consecutive frames of `flow_from` (default: the
    frames themselves). Pixels failing the forward-backward check |F_b(p) + F_f(p + F_b(p))|^2 <
    0.01 (|F_b|^2 + |F_f|^2) + fb_tolerance (Sundaram et al. 2010), or flowing out of the frame,
    count as occluded and are left out. A video of fewer than two frames scores 0.
    """
    return pooled_warp(warp_terms(frames, flow_from, fb_tolerance))


def pooled_warp(terms: list[tuple[float, int]]) -> float:
    """warp_error from `warp_terms`: the error over every kept pixel of every transition."""
    return sum(t for t, _ in terms) / max(sum(c for _, c in terms), 1)


def warp_terms(frames: Any, flow_from: Any | None = None, fb_tolerance: float = 0.5) -> list[tuple[float, int]]:
    """Per transition t−1 → t: (summed abs error over the pixels warp_error keeps, how many it keeps).
    One optical-flow pass gives both the clip's warp_error (`pooled_warp`) and each transition's."""
    cv2 = _cv2()
    video = as_uint8_video(frames)
    guide = video if flow_from is None else as_uint8_video(flow_from)
    if guide.shape[:3] != video.shape[:3]:
        raise ValueError(f"flow_from has frames {guide.shape[:3]}, video has {video.shape[:3]}")
    T, H, W, _ = video.shape
    if T < 2:
        return []
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    terms = []
    gray = [_gray(f) for f in guide]
    for t in range(1, T):
        back = dis.calc(gray[t], gray[t - 1], None)  # [H, W, 2]: pixel of t -> its place in t-1
        fwd = dis.calc(gray[t - 1], gray[t], None)  # pixel of t-1 -> its place in t
        mx, my = gx + back[..., 0], gy + back[..., 1]
        fwd_at = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = ((back + fwd_at) ** 2).sum(-1)
        mag = (back**2).sum(-1) + (fwd_at**2).sum(-1)
        inside = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        valid = inside & (diff < 0.01 * mag + fb_tolerance)
        warped = cv2.remap(video[t - 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.abs(warped.astype(np.float32) - video[t].astype(np.float32)).mean(-1) / 255.0
        terms.append((float(err[valid].sum()), int(valid.sum())))
    return terms


def flicker(output: Any, input: Any) -> float:
    """Temporal change of the output relative to the input: mean |out[t] - out[t-1]| over
    mean |in[t] - in[t-1]|. 1 = the output changes as much as the input; frame-wise noise gives
    more than 1. A static input (no change at all) is measured against 1/255 of change."""
    out = as_uint8_video(output).astype(np.float32)
    inp = as_uint8_video(input).astype(np.float32)
    if out.shape[0] != inp.shape[0] or out.shape[0] < 2:
        raise ValueError(f"need two videos of the same length >= 2, got {out.shape} and {inp.shape}")
    d_out = float(np.abs(np.diff(out, axis=0)).mean())
    d_in = float(np.abs(np.diff(inp, axis=0)).mean())
    return d_out / max(d_in, 1.0)


# ----------------------------------------------------------------------------------------------
# Structure


def _data_range(a: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    return 255.0 if a.dtype == np.uint8 else 1.0


def psnr(a: Any, b: Any, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (inf when identical). data_range defaults to 255 for uint8
    inputs and 1 for float inputs."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs equal shapes, got {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(_data_range(a, data_range) ** 2 / mse)


def psnr_colour_matched(output: Any, reference: Any) -> float:
    """PSNR (dB) of `output` against `reference` after the output's mean colour over the whole clip is moved to
    the reference's, channel by channel: the error that is left once a global colour cast is taken away. Its
    difference to `psnr` is what the cast costs. Videos as `as_uint8_video` takes them."""
    out = as_uint8_video(output).astype(np.float64)
    ref = as_uint8_video(reference).astype(np.float64)
    if out.shape != ref.shape:
        raise ValueError(f"psnr_colour_matched needs equal shapes, got {out.shape} and {ref.shape}")
    shifted = out - out.mean(axis=(0, 1, 2)) + ref.mean(axis=(0, 1, 2))  # [T, H, W, 3]
    return psnr(np.clip(np.rint(shifted), 0, 255), ref, data_range=255.0)


def ssim(a: Any, b: Any, data_range: float | None = None) -> float:
    """Mean structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
    K2 = 0.03. Images [H, W], [H, W, C] or stacks [..., H, W, C] with C = 3 (averaged over all)."""
    cv2 = _cv2()
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim needs equal shapes, got {a.shape} and {b.shape}")
    L = _data_range(a, data_range)
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    if a.ndim == 2:
        a, b = a[None, ..., None], b[None, ..., None]
    elif a.ndim == 3:
        a, b = a[None], b[None]
    a = a.reshape(-1, *a.shape[-3:]).astype(np.float64)
    b = b.reshape(-1, *b.shape[-3:]).astype(np.float64)
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    scores = []
    for x, y in zip(a, b, strict=True):
        for ch in range(x.shape[-1]):
            xc, yc = x[..., ch], y[..., ch]
            mx, my = blur(xc), blur(yc)
            vx = blur(xc * xc) - mx * mx
            vy = blur(yc * yc) - my * my
            cov = blur(xc * yc) - mx * my
            m = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            scores.append(float(m.mean()))
    return float(np.mean(scores))


def _edge_maps(video: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Canny edges (bool) and Sobel magnitudes (float32) of each frame's luma."""
    cv2 = _cv2()
    canny, sobel = [], []
    for f in video:
        g = cv2.GaussianBlur(_gray(f), (3, 3), 0)
        canny.append(cv2.Canny(g, 50, 150) > 0)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        sobel.append(np.sqrt(gx * gx + gy * gy))
    return canny, sobel


def structure(output: Any, input: Any, tolerance: int = 1) -> dict[str, float]:
    """How well the output keeps the input's structure, averaged over frames.

    edge_f1: F1 of Canny edges, an edge counting as matched within `tolerance` pixels (1 = same
    edges). edge_corr: Pearson correlation of Sobel gradient magnitudes (1 = same). ssim and psnr
    of the two videos' lumas (styles differ in colour, so these are low across styles).
    """
    cv2 = _cv2()
    out, inp = as_uint8_video(output), as_uint8_video(input)
    if out.shape != inp.shape:
        raise ValueError(f"structure needs equal shapes, got {out.shape} and {inp.shape}")
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    (eo, so), (ei, si) = _edge_maps(out), _edge_maps(inp)
    f1s, corrs = [], []
    for a, b, ga, gb in zip(eo, ei, so, si, strict=True):
        da = cv2.dilate(a.astype(np.uint8), kernel) > 0
        db = cv2.dilate(b.astype(np.uint8), kernel) > 0
        na, nb = int(a.sum()), int(b.sum())
        if na == 0 and nb == 0:
            f1s.append(1.0)
        else:
            p = (a & db).sum() / max(na, 1)
            r = (b & da).sum() / max(nb, 1)
            f1s.append(float(2 * p * r / max(p + r, 1e-12)))
        xa, xb = ga.ravel() - ga.mean(), gb.ravel() - gb.mean()
        den = float(np.sqrt((xa * xa).sum() * (xb * xb).sum()))
        corrs.append(1.0 if den == 0.0 and np.array_equal(ga, gb) else float((xa * xb).sum()) / max(den, 1e-12))
    lo = np.stack([_gray(f) for f in out])
    li = np.stack([_gray(f) for f in inp])
    return {
        "edge_f1": float(np.mean(f1s)),
        "edge_corr": float(np.mean(corrs)),
        "ssim": ssim(lo, li),
        "psnr": psnr(lo, li),
    }


def sharpness(output: Any, reference: Any) -> float:
    """How much fine detail the output has next to the reference: the variance of the Laplacian of the
    luma, summed over frames, over the reference's (1 = as sharp; a blur gives well under 1, added noise
    over 1). Videos as in `as_uint8_video`; the sizes may differ."""
    cv2 = _cv2()

    def energy(video: np.ndarray) -> float:
        return float(sum(cv2.Laplacian(_gray(f), cv2.CV_32F, ksize=3).var() for f in video))

    ref = energy(as_uint8_video(reference))
    return energy(as_uint8_video(output)) / max(ref, 1e-12)


# ----------------------------------------------------------------------------------------------
# Drift over a long stream


@dataclass(frozen=True)
class Drift:
    first: float  # metric over the first window
    last: float  # metric over the last window
    change: float  # relative change (last - first) / |first|


def drift(metric_first: float, metric_last: float) -> float:
    """Relative change (last - first) / |first| (absolute change when first is ~0)."""
    if abs(metric_first) < 1e-8:
        return metric_last - metric_first
    return (metric_last - metric_first) / abs(metric_first)


def frame_stats(frames: Any) -> dict[str, float]:
    """Cheap per-window statistics: brightness and contrast (luma mean/std, 0..1), colourfulness
    (mean chroma max(RGB) - min(RGB), 0..1) and sharpness (mean abs luma gradient, 0..1)."""
    v = as_uint8_video(frames).astype(np.float32) / 255.0
    luma = v[..., 0] * 0.299 + v[..., 1] * 0.587 + v[..., 2] * 0.114
    grad = np.abs(np.diff(luma, axis=1)).mean() + np.abs(np.diff(luma, axis=2)).mean()
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "colorfulness": float((v.max(-1) - v.min(-1)).mean()),
        "sharpness": float(grad),
    }


def stream_drift(frames: Any, window: int = 100, with_warp: bool = True) -> dict[str, Drift]:
    """Compare the first and the last `window` frames of a long stream on frame_stats (and
    warp_error when `with_warp`): does the output fade, blur, lose colour or start to shimmer?"""
    video = as_uint8_video(frames)
    if video.shape[0] < 2:
        raise ValueError(f"stream_drift needs at least 2 frames, got {video.shape[0]}")
    w = max(2, min(window, video.shape[0] // 2))
    first, last = video[:w], video[-w:]
    a, b = frame_stats(first), frame_stats(last)
    if with_warp:
        a["warp_error"], b["warp_error"] = warp_error(first), warp_error(last)
    return {k: Drift(a[k], b[k], drift(a[k], b[k])) for k in a}


def motion(video: Any) -> float:
    """Mean absolute frame-to-frame change of a video, as a fraction of full scale (0 for a frozen or
    one-frame video). Videos as in `as_uint8_video`."""
    v = as_uint8_video(video).astype(np.float32)  # [T, H, W, 3]
    if v.shape[0] < 2:
        return 0.0
    return float(np.abs(np.diff(v, axis=0)).mean() / 255.0)
