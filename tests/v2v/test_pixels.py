import numpy as np
import pytest
import torch

from v2v.pixels import to_float, to_uint8


def test_every_level_survives_the_round_trip_and_the_layouts_are_the_documented_ones():
    levels = np.arange(256, dtype=np.uint8)
    frames = np.stack([levels.reshape(16, 16)] * 3, -1)[None].repeat(2, 0)  # [2, 16, 16, 3]
    frames[1, ..., 0] = 255 - frames[1, ..., 0]  # the channels and frames differ
    x = to_float(frames)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    torch.testing.assert_close(x[1, 0], -x[0, 0])  # channel 0 of frame 1 is the inverse: layout [T, 3, H, W]
    np.testing.assert_array_equal(to_uint8(x), frames)


def test_to_uint8_rounds_clamps_and_takes_any_dtype():
    x = torch.tensor([-3.0, -1.0, 1 / 255 - 1, 0.0, 1.0, 2.0]).reshape(1, 3, 1, 2).half()
    out = to_uint8(x)
    assert out.shape == (1, 1, 2, 3) and out.dtype == np.uint8
    assert sorted(out.ravel().tolist()) == [0, 0, 0, 128, 255, 255]


def test_wrong_layouts_are_refused():
    with pytest.raises(ValueError, match=r"uint8 RGB frames \[T, H, W, 3\]"):
        to_float(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        to_float(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        to_uint8(torch.zeros(3, 8, 8))
