"""capture/frame.py: the working size keeps the input's aspect; conversions keep layout, range and
content."""

import math

import numpy as np
import pytest
import torch

from capture.frame import Frame, fit_size, frames_to_tensor, tensor_to_frames
from capture.sources.pattern import pattern_image


@pytest.mark.parametrize("in_size", [(1920, 1080), (1280, 720), (640, 480), (480, 640), (1000, 1000), (64, 48)])
@pytest.mark.parametrize("budget", [(512, 320), (832, 480), (64, 64)])
def test_fit_size_keeps_aspect_and_pixel_count(in_size, budget):
    w, h = fit_size(in_size, budget)
    assert w % 16 == 0 and h % 16 == 0 and w >= 16 and h >= 16
    # the aspect error is at most the rounding of each side by half a 16-pixel step
    assert abs(math.log((w / h) / (in_size[0] / in_size[1]))) <= math.log((1 + 8 / w) / (1 - 8 / h)) + 1e-9
    assert abs(w * h - budget[0] * budget[1]) <= 16 * (w + h) + 256


def test_fit_size_examples():
    assert fit_size((1920, 1080), (512, 320)) == (544, 304)  # 16:9 stays wide: no letterbox, no crop
    assert fit_size((480, 640), (512, 320)) == (352, 464)  # portrait stays portrait
    assert fit_size((512, 320), (512, 320)) == (512, 320)
    with pytest.raises(ValueError, match="positive"):
        fit_size((0, 10), (64, 64))


def test_frames_to_tensor_layout_and_range():
    black, white = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 255, np.uint8)
    x = frames_to_tensor([black, white], (32, 16))
    assert x.shape == (2, 3, 16, 32) and x.dtype == torch.float32
    assert torch.all(x[0] == -1) and torch.all(x[1] == 1)


def test_channels_stay_in_rgb_order():
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    x = frames_to_tensor([red], (16, 16))
    assert torch.all(x[0, 0] == 1) and torch.all(x[0, 1:] == -1)
    assert np.array_equal(tensor_to_frames(x, (16, 16))[0], red)


def test_round_trip_at_the_same_size_is_exact():
    image = pattern_image(3, (64, 48))
    back = tensor_to_frames(frames_to_tensor([image], (64, 48)), (64, 48))[0]
    assert back.dtype == np.uint8 and np.array_equal(back, image)


def _white(image: np.ndarray) -> np.ndarray:
    """[N, 2] (y, x) of the white square's pixels."""
    return np.argwhere(image.min(axis=2) > 240)


def test_wide_input_round_trip_is_not_distorted():
    """A 16:9 frame through its working size and back: same size, and the content stays in place
    (the square neither stretched nor moved)."""
    size = (1280, 720)
    image = pattern_image(40, size)
    work = fit_size(size, (512, 320))
    x = frames_to_tensor([image], work)
    assert x.shape[-1] / x.shape[-2] == pytest.approx(16 / 9, rel=0.02)
    back = tensor_to_frames(x, size)[0]
    assert back.shape == image.shape
    (y0, x0), (y1, x1) = _white(image).min(0), _white(image).max(0)
    (v0, u0), (v1, u1) = _white(back).min(0), _white(back).max(0)
    assert max(abs(v0 - y0), abs(v1 - y1), abs(u0 - x0), abs(u1 - x1)) <= 4
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 4


def test_tensor_to_frames_clamps_and_checks_layout():
    x = torch.tensor([-3.0, 3.0]).repeat_interleave(8 * 8 * 3 // 2).reshape(1, 3, 8, 8)
    out = tensor_to_frames(x, (8, 8))[0]
    assert out.min() == 0 and out.max() == 255
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        tensor_to_frames(torch.zeros(3, 8, 8), (8, 8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        frames_to_tensor([np.zeros((8, 8, 3), np.float32)], (16, 16))
    with pytest.raises(ValueError, match="at least one"):
        frames_to_tensor([], (16, 16))


def test_frame_size():
    assert Frame(np.zeros((48, 64, 3), np.uint8), 0.5, 7).size == (64, 48)
