"""capture/counter: the frame counter the pattern draws survives H.264, blur, resizing and a change of
colours, is not found in pictures without it, and gives glass-to-glass latency."""

import cv2
import numpy as np
import pytest

from capture.counter import COUNTER_MODULO, counter_fits, counter_latency, decode_counter, encode_counter
from capture.frame import resize
from capture.sources.pattern import PatternSource, pattern_image
from tests.capture.helpers import decode_video, make_video


@pytest.mark.parametrize("size", [(640, 360), (320, 180), (64, 48), (1280, 720)])
def test_round_trip_for_many_numbers(size):
    numbers = [0, 1, 2, 3, 7, 8, 255, 256, 1000, 12345, 65535, 65536, 999_999, COUNTER_MODULO - 1]
    numbers += list(np.random.default_rng(0).integers(0, COUNTER_MODULO, 200))
    for n in numbers:
        assert decode_counter(pattern_image(int(n), size)) == n
    assert decode_counter(pattern_image(COUNTER_MODULO + 5, size)) == 5  # numbers repeat after 2**20


def test_every_bit_matters():
    """Codes of neighbouring numbers differ, and flipping any block breaks the code (the CRC)."""
    image = pattern_image(777, (640, 360))
    block = 8
    for row in range(2):
        for col in range(2, 15):
            damaged = image.copy()
            y, x = row * block, col * block
            damaged[y : y + block, x : x + block] = 255 - damaged[y : y + block, x : x + block]
            assert decode_counter(damaged) is None, (row, col)


def test_the_code_survives_h264(tmp_path):
    for size in [(640, 360), (320, 180)]:
        path = make_video(tmp_path / f"pattern{size[0]}.mp4", frames=30, size=size, fps=30)
        frames, _, _ = decode_video(path)
        assert [decode_counter(f) for f in frames] == list(range(30))


def test_the_code_survives_blur_resize_and_a_change_of_colours():
    image = pattern_image(4242, (640, 360))
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    assert decode_counter(blurred) == 4242
    assert decode_counter(resize(image, (1280, 720))) == 4242
    assert decode_counter(resize(image, (320, 180))) == 4242
    tinted = (image.astype(np.float32) * [0.5, 0.7, 0.6] + [60, 20, 40]).astype(np.uint8)  # duller, warmer
    assert decode_counter(tinted) == 4242
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    assert decode_counter(noisy) == 4242


def test_no_code_in_other_pictures():
    rng = np.random.default_rng(2)
    for _ in range(50):
        assert decode_counter(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)) is None
    assert decode_counter(np.zeros((360, 640, 3), np.uint8)) is None
    assert decode_counter(np.full((360, 640, 3), 255, np.uint8)) is None
    checker = (np.indices((360, 640)).sum(0) // 8 % 2 * 255).astype(np.uint8)  # blocks, but no valid code
    assert decode_counter(np.repeat(checker[..., None], 3, axis=2)) is None
    assert decode_counter(np.zeros((20, 30, 3), np.uint8)) is None  # too small to hold one


def test_small_patterns_have_no_code_and_encode_refuses():
    assert not counter_fits((32, 32))
    assert decode_counter(pattern_image(5, (32, 32))) is None
    with pytest.raises(ValueError, match="does not fit in a 32x32 image"):
        encode_counter(np.zeros((32, 32, 3), np.uint8), 5)


def test_the_code_keeps_the_pattern_white_square_the_only_white():
    image = pattern_image(0, (640, 360))
    white = np.argwhere(image.min(axis=2) > 240)
    assert white[:, 0].min() == 360 // 2 - 90 // 2  # the square's top edge, not the code's blocks


def test_latency_from_the_counter():
    start, fps = 1000.0, 30.0
    image = pattern_image(90, (640, 360))  # made at start + 3 s
    assert counter_latency(image, start + 3.25, start, fps) == pytest.approx(0.25)
    assert counter_latency(image, start + 3.0, start, fps) == pytest.approx(0.0)
    # after the counter wrapped once, the frame nearest the time shown is meant
    shown = start + (COUNTER_MODULO + 90) / fps + 0.1
    assert counter_latency(image, shown, start, fps) == pytest.approx(0.1)
    assert counter_latency(np.zeros((360, 640, 3), np.uint8), start + 1, start, fps) is None


def test_pattern_source_records_its_start_for_latency():
    source = PatternSource((128, 72), fps=100, frames=3, realtime=True)
    assert source.start_time is None
    frames = list(source)
    assert source.start_time is not None
    latency = counter_latency(frames[-1].image, source.start_time + 2 / 100 + 0.05, source.start_time, 100)
    assert latency == pytest.approx(0.05)
