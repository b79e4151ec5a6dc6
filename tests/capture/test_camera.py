"""capture/sources/camera: a fake OpenCV device that vanishes mid-stream and comes back (the stream
goes on), one that never comes back (the stream ends with the message), and --camera-size/--camera-fps."""

import itertools
import time

import cv2
import numpy as np
import pytest

from capture.cli import parse_camera_mode
from capture.errors import CaptureError, SourceUnavailable
from capture.sources import open_source
from capture.sources.camera import CameraSource, Reconnect

FAST = Reconnect(first_s=0.01, max_s=0.04, give_up_s=0.5)  # the real schedule, shrunk


class FakeDevice:
    """One camera that can be unplugged and plugged in again. A handle opened while it is plugged in
    gives frames until it is unplugged; `unplug_after` frames unplug it, and it is plugged in again
    after `back_after` failed opens (None: never)."""

    def __init__(self, modes=((64, 48), (320, 240)), unplug_after=None, back_after=None, back_mode=None):
        self.modes, self.mode, self.fps = modes, modes[0], 30.0
        self.plugged, self.generation = True, 0
        self.frames = 0  # frames served in all
        self.opens, self.failed_opens = 0, 0
        self.unplug_after, self.back_after, self.back_mode = unplug_after, back_after, back_mode
        self.asked: list = []

    def open(self, index):
        return FakeCapture(self, index)

    def unplug(self):
        self.plugged, self.generation = False, self.generation + 1


class FakeCapture:
    """What `cv2.VideoCapture(index)` returns, for a FakeDevice at index 0."""

    def __init__(self, device: FakeDevice, index: int):
        device.opens += 1
        self.device, self.generation = device, device.generation
        self.wanted = list(device.mode)  # the size asked for so far (width and height come one by one)
        self.opened = index == 0 and device.plugged
        if index == 0 and not device.plugged:
            device.failed_opens += 1
            if device.back_after is not None and device.failed_opens >= device.back_after:
                device.plugged = True  # the next open finds it
                if device.back_mode:
                    device.mode = device.back_mode

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        self.device.asked.append((prop, value))
        if prop == cv2.CAP_PROP_FPS:
            self.device.fps = float(value)
            return True
        self.wanted[0 if prop == cv2.CAP_PROP_FRAME_WIDTH else 1] = int(value)
        if tuple(self.wanted) in self.device.modes:
            self.device.mode = tuple(self.wanted)
        return True

    def get(self, prop):
        return self.device.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        time.sleep(0.002)  # a camera's pace, roughly
        device = self.device
        if not self.opened or self.generation != device.generation:
            return False, None
        device.frames += 1
        w, h = device.mode
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 0] = device.frames % 256  # blue: the frame number
        bgr[..., 2] = 200  # red
        if device.unplug_after is not None and device.frames == device.unplug_after:
            device.unplug()
        return True, bgr

    def release(self):
        self.opened = False


@pytest.fixture
def device(request, monkeypatch):
    fake = FakeDevice(**getattr(request, "param", {}))
    monkeypatch.setattr(cv2, "VideoCapture", fake.open)
    return fake


def test_the_back_off_doubles_up_to_its_limit():
    assert list(itertools.islice(Reconnect().waits(), 6)) == [0.5, 1, 2, 4, 4, 4]
    assert Reconnect().give_up_s == 10


@pytest.mark.parametrize("device", [{"unplug_after": 10, "back_after": 3}], indirect=True)
def test_a_camera_that_comes_back_continues_the_stream(device, capsys):
    source = CameraSource(0, reconnect=FAST)
    assert source.size == (64, 48) and source.live
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 30:
            break
    source.close()
    assert [f.index for f in frames] == list(range(30))
    assert device.opens == 1 + 3 + 1  # the first open, three that failed, the one that found it again
    assert int(frames[-1].image[0, 0, 2]) > 10  # a frame from after the outage (blue = its number)
    assert all(f.image.shape == (48, 64, 3) and f.image[0, 0, 0] == 200 for f in frames)  # RGB order
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "camera:0 stopped sending frames" in lines[0] and "reconnecting" in lines[0]


@pytest.mark.parametrize("device", [{"unplug_after": 5, "back_after": 1, "back_mode": (320, 240)}], indirect=True)
def test_a_camera_back_in_another_mode_keeps_the_stream_size(device):
    source = CameraSource(0, reconnect=FAST)
    frames = []
    for frame in source:
        frames.append(frame)
        if device.mode == (320, 240) and len(frames) > 12:
            break
    source.close()
    assert all(f.image.shape == (48, 64, 3) for f in frames)


@pytest.mark.parametrize("device", [{"unplug_after": 4}], indirect=True)
def test_a_camera_that_never_comes_back_ends_the_stream(device, capsys):
    source = CameraSource(0, reconnect=FAST)
    got = 0
    with pytest.raises(SourceUnavailable, match="camera:0 went away and did not come back within 0.5 s") as info:
        for _ in source:
            got += 1
    source.close()
    assert "\n" not in str(info.value) and "check its cable" in str(info.value)
    assert 1 <= got <= 4 and device.opens >= 3  # it tried more than once before it gave up
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # one line for the one outage


def test_close_during_an_outage_ends_quietly(device):
    device.unplug_after = 2
    source = CameraSource(0, reconnect=Reconnect(first_s=5.0, max_s=5.0, give_up_s=30.0))
    frames = source.__iter__()
    next(frames)
    while device.plugged:  # the reader saw it go and now waits 5 s before its first try
        time.sleep(0.005)
    source.close()  # wakes the reader at once
    assert list(frames) == []  # the stream ends, with no error
    assert not source._thread.is_alive()


def test_camera_size_and_fps_are_asked_for(device, capsys):
    source = open_source("camera:0", camera_size=(320, 240), camera_fps=15)
    assert source.size == (320, 240) and source.fps == 15
    assert (cv2.CAP_PROP_FRAME_WIDTH, 320) in device.asked and (cv2.CAP_PROP_FPS, 15) in device.asked
    source.close()
    assert capsys.readouterr().err == ""


def test_a_mode_the_camera_lacks_is_reported(device, capsys):
    source = CameraSource(0, size=(1000, 1000))
    assert source.size == (64, 48)
    source.close()
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "camera:0 gives 64x48, not the 1000x1000 asked for" in line


def test_a_missing_fake_camera_says_why(device):
    with pytest.raises(SourceUnavailable, match="camera 1 could not be opened"):
        open_source("camera:1")


def test_camera_options_on_the_command_line():
    assert parse_camera_mode(None, None, "pattern") == (None, None)
    assert parse_camera_mode("1280x720", "30", "camera") == ((1280, 720), 30.0)
    assert parse_camera_mode(None, "60", "camera:1") == (None, 60.0)
    for size, fps, spec, match in [
        ("1280x720", None, "pattern", "--camera-size applies only to --input camera"),
        (None, "30", "screen", "--camera-fps applies only to --input camera"),
        ("big", None, "camera", "--camera-size 'big' is not WxH"),
        ("0x720", None, "camera", "is not WxH with sides 1 to 4096"),
        (None, "0", "camera", r"--camera-fps must be in \(0, 240\]"),
        (None, "fast", "camera", "--camera-fps 'fast' is not a number"),
    ]:
        with pytest.raises(CaptureError, match=match):
            parse_camera_mode(size, fps, spec)
