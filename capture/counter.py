"""A frame counter drawn into the picture as a small binary code, so that glass-to-glass latency can
be measured from an output frame alone (the pattern source draws it into every frame).

Layout: a grid of 2 rows x 15 columns of square blocks at the image's top-left corner, each block
`counter_block(size)` pixels wide (about H/45: 8 px at 360 lines, 16 px at 720). Columns 0-1 are a
checkerboard start marker (white, black over black, white) that gives the decoder its white and black
levels; the other 26 blocks, row by row, are the frame number modulo 2**20 (most significant bit
first) and a CRC-6 of it. White blocks are light grey (224) and black ones dark grey (32), so the
pattern's white square stays the only pure-white thing in the picture.

The decoder reads the mean of each block's centre and compares it with the marker's levels, so the
code survives H.264, a mild blur, a uniform resize and a restyle that keeps the picture's structure;
a picture without a code (or with a damaged one) gives None.
"""

from __future__ import annotations

import math

import numpy as np

COUNTER_BITS = 20  # frame numbers modulo 2**20: 9.7 hours at 30 fps before they repeat
COUNTER_MODULO = 1 << COUNTER_BITS
CHECK_BITS = 6
CRC_POLY = 0b1000011  # x^6 + x + 1 (CRC-6-ITU)
ROWS, COLS = 2, 15  # 2 x 2 marker blocks, then COUNTER_BITS + CHECK_BITS = 26 data blocks
MARKER = np.array([[1, 0], [0, 1]], bool)  # [ROWS, 2]: the start marker's columns
LIGHT, DARK = 224, 32  # block levels (uint8)
MIN_CONTRAST = 48.0  # the marker's white minus black, in grey levels, below which there is no code


def counter_block(size: tuple[int, int]) -> int:
    """The side in pixels of one block of the code in an image of `size` (W, H)."""
    return max(4, size[1] // 45)


def counter_fits(size: tuple[int, int]) -> bool:
    """Whether the code fits in an image of `size` (W, H): within its width and its top quarter."""
    block = counter_block(size)
    return COLS * block <= size[0] and ROWS * block <= size[1] // 4


def _crc(value: int) -> int:
    """CRC-6 of the COUNTER_BITS-bit `value`."""
    register = value << CHECK_BITS
    for bit in range(COUNTER_BITS + CHECK_BITS - 1, CHECK_BITS - 1, -1):
        if register >> bit & 1:
            register ^= CRC_POLY << (bit - CHECK_BITS)
    return register


def _bits(n: int) -> np.ndarray:
    """The [ROWS, COLS] block pattern (True = light) for frame number `n`."""
    value = n % COUNTER_MODULO
    word = value << CHECK_BITS | _crc(value)
    data = [(word >> bit) & 1 for bit in range(COUNTER_BITS + CHECK_BITS - 1, -1, -1)]
    grid = np.zeros((ROWS, COLS), bool)
    grid[:, :2] = MARKER
    grid[:, 2:] = np.array(data, bool).reshape(ROWS, COLS - 2)
    return grid


def encode_counter(image: np.ndarray, n: int) -> np.ndarray:
    """Draw the code of frame number `n` (taken modulo 2**20) into `image` (uint8 RGB [H, W, 3]) in
    place, and return it. Raises ValueError when the code does not fit (see `counter_fits`)."""
    h, w = image.shape[:2]
    if not counter_fits((w, h)):
        raise ValueError(f"the frame counter does not fit in a {w}x{h} image")
    block = counter_block((w, h))
    levels = np.where(_bits(n), LIGHT, DARK).astype(np.uint8)  # [ROWS, COLS]
    blocks = np.repeat(np.repeat(levels, block, axis=0), block, axis=1)  # [ROWS*b, COLS*b]
    image[: ROWS * block, : COLS * block] = blocks[..., None]
    return image


def decode_counter(image: np.ndarray) -> int | None:
    """The frame number (modulo 2**20) drawn by `encode_counter` into `image` (uint8 RGB
    [H, W, 3]), or None when it holds no valid code."""
    h, w = image.shape[:2]
    if not counter_fits((w, h)):
        return None
    block = counter_block((w, h))
    inner = slice(block // 4, block - block // 4)  # the centre of a block: its edges blur into the next
    grey = image[: ROWS * block, : COLS * block].astype(np.float32).mean(axis=-1)  # [ROWS*b, COLS*b]
    cells = grey.reshape(ROWS, block, COLS, block)[:, inner, :, inner].mean(axis=(1, 3))  # [ROWS, COLS]
    marker = cells[:, :2]
    light, dark = marker[MARKER].mean(), marker[~MARKER].mean()
    if light - dark < MIN_CONTRAST:
        return None
    middle, margin = (light + dark) / 2, (light - dark) / 4
    if np.any(np.abs(cells - middle) < margin):  # a block that is neither light nor dark
        return None
    bits = cells > middle
    if not np.array_equal(bits[:, :2], MARKER):
        return None
    word = 0
    for bit in bits[:, 2:].reshape(-1):
        word = word << 1 | int(bit)
    value, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    return value if _crc(value) == check else None


def counter_latency(image: np.ndarray, shown_t: float, start_t: float, fps: float) -> float | None:
    """Glass-to-glass latency in seconds of an output frame, from the counter in it.

    image: the output frame (uint8 RGB [H, W, 3]); shown_t: when it was shown (time.monotonic());
    start_t and fps: the real-time pattern source's start (its `start_time`) and frame rate, so that
    frame i was made at start_t + i / fps. None when the frame carries no code. Counters that
    repeated (after 2**20 frames) are unwrapped to the frame nearest to `shown_t`.
    """
    n = decode_counter(image)
    if n is None:
        return None
    elapsed = (shown_t - start_t) * fps  # frames made since the start
    wraps = max(0, math.floor((elapsed - n) / COUNTER_MODULO + 0.5))
    return shown_t - (start_t + (n + wraps * COUNTER_MODULO) / fps)
