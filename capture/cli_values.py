"""The command line's option values: text -> checked numbers and sizes, each bad value a one-line
`CaptureError` that names the option and how to write it."""

from __future__ import annotations

import re

from capture.errors import CaptureError

MAX_SIDE = 4096  # pixels: a larger working size is a typo, not a request


def parse_size(text: str | None, option: str = "--size") -> tuple[int, int] | None:
    """'WxH' -> (W, H); None stays None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise CaptureError(f"{option} {text!r} is not WxH: write it like 512x320")
    w, h = int(match[1]), int(match[2])
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise CaptureError(
            f"{option} {text} is impossible: width and height must be 1 to {MAX_SIDE}, multiples of 16, e.g. 512x320"
        )
    return w, h


def parse_int(text: str | None, option: str, low: int) -> int | None:
    """A whole number >= low; None stays None."""
    return None if text is None else whole_number(text, option, low)


def whole_number(text: str, option: str, low: int) -> int:
    """A whole number >= low, for an option that always has a value (it has a default)."""
    try:
        value = int(text)
    except ValueError:
        raise CaptureError(f"{option} {text!r} is not a whole number") from None
    if value < low:
        raise CaptureError(f"{option} must be at least {low}, got {value}")
    return value


def parse_titles(text: str | None, spec: str | None) -> tuple[str, ...]:
    """--game-titles 'A, B' -> ('A', 'B'); only with --input game_window."""
    if text is None:
        return ()
    if spec != "game_window":
        raise CaptureError(
            f"--game-titles applies only to --input game_window, not {spec}: drop it, or "
            "name one window with --input window:TITLE"
        )
    titles = tuple(title.strip() for title in text.split(",") if title.strip())
    if not titles:
        raise CaptureError(f"--game-titles {text!r} names no title: write it like --game-titles 'My Game,Other'")
    return titles


def parse_camera_mode(
    size: str | None, fps: str | None, spec: str | None
) -> tuple[tuple[int, int] | None, float | None]:
    """--camera-size 'WxH' and --camera-fps 'F' -> ((W, H) or None, F or None); only with --input camera."""
    if size is None and fps is None:
        return None, None
    if spec is None or spec.split(":", 1)[0] != "camera":
        option = "--camera-size" if size is not None else "--camera-fps"
        raise CaptureError(f"{option} applies only to --input camera[:N], not {spec}: drop it")
    mode = None
    if size is not None:
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not match or not (0 < int(match[1]) <= MAX_SIDE and 0 < int(match[2]) <= MAX_SIDE):
            raise CaptureError(f"--camera-size {size!r} is not WxH with sides 1 to {MAX_SIDE}: write it like 1280x720")
        mode = int(match[1]), int(match[2])
    rate = None if fps is None else parse_in_range(fps, "--camera-fps", 0.0, 240.0, False, "frames per second", "30")
    return mode, rate


def parse_in_range(
    text: str, option: str, low: float, high: float, low_inclusive: bool, meaning: str, example: str
) -> float:
    """A number in [low, high] ((low, high] unless low_inclusive); the errors name the option, the range and
    what the ends mean."""
    span = f"{'[' if low_inclusive else '('}{low:g}, {high:g}]"
    try:
        value = float(text)
    except ValueError:
        raise CaptureError(f"{option} {text!r} is not a number: give one in {span}, e.g. {example}") from None
    above_low = value >= low if low_inclusive else value > low  # False for NaN as well
    if not (above_low and value <= high):
        raise CaptureError(f"{option} must be in {span} ({meaning}), got {text}")
    return value


def parse_fraction(text: str, option: str, zero_ok: bool, meaning: str, example: str) -> float:
    """A number in [0, 1] (zero_ok) or (0, 1]."""
    return parse_in_range(text, option, 0.0, 1.0, zero_ok, meaning, example)


def parse_noise_refresh(text: str | None) -> float | None:
    """None, or a share of fresh noise in [0, 1]."""
    if text is None:
        return None
    return parse_fraction(text, "--noise-refresh", True, "1 = fresh noise every chunk, 0 = fixed", "0.3")


def parse_sink_refresh(text: str | None) -> float | None:
    """None, or a cosine-similarity threshold in [-1, 1]."""
    if text is None:
        return None
    return parse_in_range(text, "--sink-refresh", -1.0, 1.0, True, "a cosine similarity; -1 = never", "0.2")


def parse_strength(text: str) -> float:
    """A strength in (0, 1]."""
    return parse_fraction(text, "--strength", False, "0 would keep the input, 1 ignores it", "0.7")
