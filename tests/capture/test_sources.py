"""capture/sources: the pattern, video and image files, SRC parsing, and each backend's one-line
reason when it cannot work here."""

import glob
import os
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from capture.errors import CaptureError, SourceUnavailable
from capture.sources import open_source
from capture.sources.file import ImageSource, VideoFileSource
from capture.sources.pattern import PatternSource, pattern_image, pattern_square_x
from tests.capture.helpers import make_video


def test_pattern_is_deterministic_and_moves():
    a = [f.image for f in PatternSource((96, 64), frames=5)]
    b = [f.image for f in PatternSource((96, 64), frames=5)]
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[1])
    for i, image in enumerate(a):
        assert image.shape == (64, 96, 3) and image.dtype == np.uint8
        x, side = pattern_square_x(i, (96, 64)), 64 // 4
        assert np.all(image[32, x : x + side] == 255)  # the white square is where it should be
        assert np.all(image[32, x + side + 1 :].min(axis=-1) < 255)


def test_pattern_frames_carry_index_and_time():
    frames = list(PatternSource((32, 32), fps=25, frames=3))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.t for f in frames] == pytest.approx([0, 0.04, 0.08])
    assert PatternSource((32, 32), frames=3).frame_count == 3 and PatternSource().frame_count is None


def test_video_file_source_gives_every_frame_with_pts(tmp_path):
    path = make_video(tmp_path / "clip.mp4", frames=10, size=(64, 48), fps=24, audio=True)
    source = open_source(path)
    assert isinstance(source, VideoFileSource) and not source.live and source.has_audio
    assert source.size == (64, 48) and source.fps == 24 and source.frame_count == 10
    frames = list(source)
    source.close()
    assert [f.index for f in frames] == list(range(10))
    with av.open(path) as c:
        expected = [(f.pts, float(f.pts * f.time_base)) for f in c.decode(video=0)]
        assert source.time_base == c.streams.video[0].time_base
    assert [(f.pts, f.t) for f in frames] == expected
    # H.264 is lossy, but each frame is still its own pattern frame
    for i, f in enumerate(frames):
        assert np.abs(f.image.astype(int) - pattern_image(i, (64, 48))).mean() < 6


def test_image_source_repeats_the_image_in_rgb(tmp_path):
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    path = str(tmp_path / "red.png")
    cv2.imwrite(path, bgr)
    source = open_source(path, frames=4, fps=10)
    assert isinstance(source, ImageSource) and source.size == (30, 20)
    frames = list(source)
    assert len(frames) == 4 and [f.t for f in frames] == pytest.approx([0, 0.1, 0.2, 0.3])
    assert np.all(frames[0].image[..., 0] == 255) and np.all(frames[0].image[..., 1:] == 0)


def test_realtime_file_source_plays_at_its_pace(tmp_path):
    """With realtime the frames come no faster than their timestamps (a lower bound only: no
    upper timing bound is asserted)."""
    path = make_video(tmp_path / "clip.mp4", frames=5, fps=50)
    start = time.monotonic()
    frames = list(open_source(path, realtime=True))
    assert len(frames) == 5 and time.monotonic() - start >= frames[-1].t


@pytest.mark.parametrize("spec, size", [("pattern", (640, 360)), ("pattern:320x180", (320, 180))])
def test_open_source_pattern(spec, size):
    source = open_source(spec, frames=2)
    assert isinstance(source, PatternSource) and source.size == size and len(list(source)) == 2


@pytest.mark.parametrize(
    "spec, match",
    [
        ("pattern:12x12", "at least 16"),
        ("pattern:wide", "pattern:WxH"),
        ("camera:front", "camera:N"),
        ("screen:x", "screen:N"),
        ("nosuchsource", "neither a file nor a source name"),
        ("missing.mp4", "does not exist"),
    ],
)
def test_open_source_bad_specs(spec, match):
    with pytest.raises(CaptureError, match=match):
        open_source(spec)


@pytest.mark.parametrize("spec", ["window:Some Game", "game_window"])
def test_window_capture_without_display_says_why(spec, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceUnavailable, match="DISPLAY is not set.*Xvfb") as info:
        open_source(spec)
    assert "\n" not in str(info.value)


def test_bad_files_are_reported_before_anything_is_read(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    whole = make_video(tmp_path / "whole.mp4", frames=12)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(Path(whole).read_bytes()[:600])
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    bad_image = tmp_path / "broken.png"
    bad_image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    cases = [
        (empty, "is empty"),
        (text, "not a video"),
        (truncated, "not a video|no decodable"),
        (audio_only, "no video stream"),
        (bad_image, "not an image"),
        (tmp_path, "not a file"),
    ]
    for path, match in cases:
        with pytest.raises(CaptureError, match=match) as info:
            open_source(str(path))
        assert "\n" not in str(info.value)


def test_screen_without_display_says_why(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceUnavailable, match="DISPLAY is not set"):
        open_source("screen")


def test_missing_camera_says_why():
    if glob.glob("/dev/video9"):
        pytest.skip("this machine has a /dev/video9")
    with pytest.raises(SourceUnavailable, match="camera 9 could not be opened"):
        open_source("camera:9")


def _red_window(display_name: str):
    """Connect to the X server (waiting for it to start) and show a red window over the screen."""
    from Xlib import display, error

    for _ in range(100):
        try:
            conn = display.Display(display_name)
            break
        except error.DisplayError:
            time.sleep(0.05)
    else:
        pytest.fail(f"Xvfb {display_name} did not start")
    screen = conn.screen()
    red = screen.default_colormap.alloc_color(65535, 0, 0).pixel
    window = screen.root.create_window(0, 0, 320, 240, 0, screen.root_depth, background_pixel=red)
    window.map()
    conn.sync()
    return conn


@pytest.mark.xvfb
def test_screen_capture_under_xvfb(xvfb):
    """A real X server: grab the screen and find the red window on it (in RGB order)."""
    conn = _red_window(xvfb("320x240"))
    source = open_source("screen:1", fps=100)
    assert source.size == (320, 240) and source.live
    for frame in source:
        if tuple(frame.image[120, 160]) == (255, 0, 0) or frame.index > 100:
            break
    source.close()
    assert frame.image.shape == (240, 320, 3)
    assert tuple(frame.image[120, 160]) == (255, 0, 0)
    with pytest.raises(SourceUnavailable, match="no screen 5"):
        open_source("screen:5")
    conn.close()


def test_video_file_time_base_is_exposed(tmp_path):
    source = open_source(make_video(tmp_path / "c.mkv", frames=3, fps=30))
    assert isinstance(source.time_base, Fraction) and source.rate == 30
    source.close()
    assert os.path.exists(tmp_path / "c.mkv")
