import math

import numpy as np
import pytest

from v2v import metrics

pytest.importorskip("cv2")


def _textured(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture, uint8 [H, W, 3], that optical flow can track."""
    import cv2

    rng = np.random.default_rng(seed)
    x = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    x = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
    x = cv2.GaussianBlur(x, (0, 0), 1.0)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def _panning(frames: int = 8, step: int = 2) -> np.ndarray:
    """A texture sliding left by `step` pixels per frame, uint8 [T, 64, 64, 3]."""
    big = _textured(64, 64 + step * frames, seed=1)
    return np.stack([big[:, t * step : t * step + 64] for t in range(frames)])


def test_identical_frames_are_perfect():
    frame = _textured()
    video = np.stack([frame] * 5)
    assert metrics.warp_error(video) < 1e-6
    assert metrics.psnr(frame, frame) == math.inf
    assert metrics.ssim(frame, frame) == pytest.approx(1.0)
    s = metrics.structure(video, video)
    assert s["edge_f1"] == pytest.approx(1.0)
    assert s["edge_corr"] == pytest.approx(1.0)
    assert s["ssim"] == pytest.approx(1.0)


def test_known_motion_has_low_warp_error_and_shuffled_high():
    video = _panning()
    shuffled = video[np.random.default_rng(0).permutation(len(video))]
    noise = np.stack([_textured(seed=10 + t)[:, :64] for t in range(len(video))])
    steady = metrics.warp_error(video)
    assert steady < 0.02
    assert metrics.warp_error(noise) > 5 * steady
    assert metrics.warp_error(shuffled) > steady


def test_flow_from_input_measures_consistency_with_input_motion():
    video = _panning()
    assert metrics.warp_error(video, flow_from=video) == pytest.approx(metrics.warp_error(video))
    frozen = np.stack([video[0]] * len(video))
    assert metrics.warp_error(frozen, flow_from=video) > 3 * metrics.warp_error(video)


def test_flicker():
    video = _panning()
    assert metrics.flicker(video, video) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = np.clip(video.astype(np.int16) + rng.integers(-40, 41, video.shape), 0, 255)
    assert metrics.flicker(noisy.astype(np.uint8), video) > 1.2


def test_psnr_and_ssim_known_values():
    a = np.zeros((32, 32, 3), np.uint8)
    b = np.full((32, 32, 3), 10, np.uint8)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    # Constant images: only the luminance term remains, (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
    c = np.full((32, 32), 100.0)
    d = np.full((32, 32), 120.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert metrics.ssim(c, d, data_range=255) == pytest.approx(expected)
    frame = _textured()
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 25, frame.shape), 0, 255)
    assert 0.2 < metrics.ssim(frame, noisy.astype(np.uint8)) < 0.95
    assert metrics.ssim(frame, 255 - frame) < 0.0


def test_structure_across_styles_keeps_edges():
    from v2v.train.data import render_styles, sample_scene

    clips = render_styles(sample_scene(3), ("realistic", "toon"), 3, (96, 64))
    other = render_styles(sample_scene(4), ("realistic",), 3, (96, 64))["realistic"]
    same = metrics.structure(clips["toon"], clips["realistic"])
    different = metrics.structure(other, clips["realistic"])
    assert same["edge_f1"] > different["edge_f1"]
    assert same["edge_corr"] > different["edge_corr"]


def test_float_layout_is_accepted():
    video = _panning(4)
    as_float = video.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(metrics.as_uint8_video(as_float), video)
    assert metrics.flicker(as_float, video) == pytest.approx(1.0)


def test_drift():
    assert metrics.drift(2.0, 3.0) == pytest.approx(0.5)
    assert metrics.drift(0.0, 0.25) == pytest.approx(0.25)
    video = _panning(12)
    gain = np.linspace(1, 0.5, 12)[:, None, None, None]
    fading = (video.astype(np.float32) * gain).astype(np.uint8)
    report = metrics.stream_drift(fading, window=4)
    assert report["brightness"].change < -0.3
    assert report["brightness"].first > report["brightness"].last
    assert "warp_error" in report
    steady = metrics.stream_drift(video, window=4, with_warp=False)
    assert abs(steady["brightness"].change) < 0.05


def test_psnr_colour_matched_forgives_only_a_global_colour_cast():
    rng = np.random.default_rng(1)
    truth = rng.integers(40, 200, (4, 16, 16, 3)).astype(np.uint8)
    cast = (truth.astype(np.int16) + np.array([30, -20, 10])).astype(np.uint8)  # the same picture, tinted
    assert metrics.psnr(cast, truth) < 25.0
    assert metrics.psnr_colour_matched(cast, truth) == math.inf  # a pure cast costs nothing once matched
    noisy = np.clip(truth.astype(np.int16) + rng.integers(-25, 26, truth.shape), 0, 255).astype(np.uint8)
    both = np.clip(noisy.astype(np.int16) + np.array([30, -20, 10]), 0, 255).astype(np.uint8)
    # detail errors stay: matching the colour takes back the cast's share and nothing more
    assert metrics.psnr_colour_matched(both, truth) == pytest.approx(metrics.psnr(noisy, truth), abs=0.3)
    assert metrics.psnr_colour_matched(both, truth) > metrics.psnr(both, truth) + 3.0
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.psnr_colour_matched(truth[:2], truth)


def test_sharpness_orders_blur_and_noise() -> None:
    import cv2

    rng = np.random.default_rng(1)
    frame = (rng.random((1, 64, 64, 3)) * 255).astype(np.uint8)
    assert metrics.sharpness(np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in frame]), frame) < 0.2
    noisy = np.clip(frame + rng.normal(0, 30, frame.shape), 0, 255).astype(np.uint8)
    assert metrics.sharpness(noisy, frame) > 1.0
