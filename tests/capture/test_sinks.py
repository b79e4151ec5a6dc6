"""capture/sinks: video files (timestamps, audio copy, nothing lost on failure), the virtual camera
through a registered local backend, and each sink's one-line reason when it cannot work here."""

import glob
import os

import numpy as np
import pytest
import pyvirtualcam

from capture.errors import CaptureError, SinkUnavailable
from capture.frame import Frame
from capture.sinks import open_sink
from capture.sinks.file import VideoFileSink, partial_path
from capture.sinks.null import NullSink
from capture.sinks.vcam import VirtualCameraSink
from capture.sources import open_source
from capture.sources.pattern import PatternSource, pattern_image
from tests.capture.helpers import audio_packets, decode_video, make_video


def test_file_sink_keeps_size_fps_and_timestamps(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", frames=9, size=(64, 48), fps=24))
    out = str(tmp_path / "out.mp4")
    sink = open_sink(out, size=src.size, fps=src.fps, time_base=src.time_base)
    for frame in src:
        sink.write(frame)
    sink.close()
    frames, times, rate = decode_video(out)
    assert len(frames) == 9 and frames[0].shape == (48, 64, 3)
    assert rate == 24
    assert times == pytest.approx([i / 24 for i in range(9)])
    assert not os.path.exists(partial_path(out))


def test_file_sink_times_from_t_when_frames_have_no_pts(tmp_path):
    out = str(tmp_path / "pattern.mkv")
    sink = open_sink(out, size=(32, 32), fps=25)
    for frame in PatternSource((32, 32), fps=25, frames=5):
        sink.write(frame)
    sink.close()
    frames, times, _ = decode_video(out)
    assert times == pytest.approx([0, 0.04, 0.08, 0.12, 0.16], abs=1e-3)
    assert np.abs(frames[2].astype(int) - pattern_image(2, (32, 32))).mean() < 8


def test_odd_sizes_are_padded_to_even(tmp_path):
    out = str(tmp_path / "odd.mp4")
    sink = VideoFileSink(out, (33, 21), 30)
    for frame in PatternSource((33, 21), frames=3):
        sink.write(frame)
    sink.close()
    frames, _, _ = decode_video(out)
    assert frames[0].shape == (22, 34, 3)


def test_audio_is_copied_packet_for_packet(tmp_path):
    src_path = make_video(tmp_path / "in.mp4", frames=24, fps=24, audio=True)
    src = open_source(src_path)
    out = str(tmp_path / "out.mp4")
    sink = open_sink(out, size=src.size, fps=src.fps, time_base=src.time_base, audio_from=src_path)
    for frame in src:
        sink.write(frame)
    sink.close()
    assert audio_packets(out) == audio_packets(src_path) and len(audio_packets(out)) > 10


def test_partial_close_copies_audio_only_up_to_the_last_frame(tmp_path):
    src_path = make_video(tmp_path / "in.mp4", frames=48, fps=24, audio=True)
    src = open_source(src_path)
    out = str(tmp_path / "out.mp4")
    sink = open_sink(out, size=src.size, fps=src.fps, time_base=src.time_base, audio_from=src_path)
    for frame in src:
        if frame.index == 12:
            break
        sink.write(frame)
    sink.close(all_audio=False)
    everything, kept = audio_packets(src_path), audio_packets(out)
    assert 0 < len(kept) < len(everything) and kept == everything[: len(kept)]
    assert len(decode_video(out)[0]) == 12


def test_existing_output_needs_overwrite_and_survives_an_abort(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(CaptureError, match="already exists: pass --overwrite"):
        open_sink(str(out), size=(32, 32), fps=30)
    sink = open_sink(str(out), size=(32, 32), fps=30, overwrite=True)
    sink.write(Frame(pattern_image(0, (32, 32)), 0.0, 0))
    sink.abort()
    assert out.read_bytes() == b"precious" and not os.path.exists(partial_path(str(out)))
    sink = open_sink(str(out), size=(32, 32), fps=30, overwrite=True)
    sink.close()  # no frame written: nothing to play, so nothing replaces the output
    assert out.read_bytes() == b"precious"


def test_output_path_checks(tmp_path, monkeypatch):
    source = make_video(tmp_path / "in.mp4", frames=2)
    cases = [
        (str(tmp_path / "missing" / "out.mp4"), "folder .* does not exist"),
        (str(tmp_path / "out.avi"), "must end in .mp4"),
        (str(tmp_path), "is a folder"),
        (source, "is the input file"),
    ]
    for path, match in cases:
        with pytest.raises(CaptureError, match=match):
            open_sink(path, size=(32, 32), fps=30, overwrite=True, inputs=[source])
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(folder) else real_access(p, mode))
    with pytest.raises(CaptureError, match="not writable"):
        open_sink(str(folder / "out.mp4"), size=(32, 32), fps=30)


def test_output_is_a_folder_error(tmp_path):
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    with pytest.raises(CaptureError, match="is a folder"):
        open_sink(str(folder), size=(32, 32), fps=30, overwrite=True)


def test_null_sink_counts():
    sink = open_sink("null", size=(32, 32), fps=30)
    assert isinstance(sink, NullSink)
    for frame in PatternSource((32, 32), frames=3):
        sink.write(frame)
    assert sink.count == 3 and sink.last.index == 2


class RecordingCamera:
    """A pyvirtualcam backend that keeps what it is sent (pyvirtualcam still checks shape and dtype)."""

    sent: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height = width, height
        RecordingCamera.sent = []

    def close(self):
        pass

    def send(self, frame):
        RecordingCamera.sent.append(frame.reshape(self.height, self.width, 3).copy())

    def device(self):
        return "test-camera"

    def native_fourcc(self):
        return None


class MissingDevice:
    """A backend that fails the way v4l2loopback does on a machine without the kernel module."""

    def __init__(self, **kw):
        raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'?")


@pytest.fixture
def test_backends():
    pyvirtualcam.register_backend("v2v-test", RecordingCamera)
    pyvirtualcam.register_backend("v2v-missing", MissingDevice)
    yield
    pyvirtualcam.camera.BACKENDS.pop("v2v-test")
    pyvirtualcam.camera.BACKENDS.pop("v2v-missing")


def test_frames_reach_the_virtual_camera(test_backends):
    sink = VirtualCameraSink((48, 32), 30, backend="v2v-test")
    assert sink.name == "vcam:test-camera"
    for frame in PatternSource((48, 32), frames=3):
        sink.write(frame)
    sink.write(Frame(pattern_image(3, (96, 64)), 0.1, 3))  # another size is resized to the camera's
    sink.close()
    assert len(RecordingCamera.sent) == 4 and sink.count == 4
    assert np.array_equal(RecordingCamera.sent[1], pattern_image(1, (48, 32)))


def test_virtual_camera_without_a_device_says_how_to_fix(test_backends):
    with pytest.raises(SinkUnavailable) as info:
        VirtualCameraSink((48, 32), 30, backend="v2v-missing")
    message = str(info.value)
    assert "\n" not in message and "no virtual camera" in message and "modprobe v4l2loopback" in message
    with pytest.raises(SinkUnavailable, match="no virtual camera backend 'nope'"):
        VirtualCameraSink((48, 32), 30, backend="nope")


def test_vcam_on_this_machine_reports_every_backend():
    """With no device at all, `open_sink("vcam")` tries every registered backend and says why each failed."""
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has video devices")
    with pytest.raises(SinkUnavailable, match="no virtual camera") as info:
        open_sink("vcam", size=(32, 32), fps=30)
    assert "\n" not in str(info.value)


def test_preview_without_a_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SinkUnavailable, match="DISPLAY is not set"):
        open_sink("preview", size=(32, 32), fps=30)


def test_preview_with_headless_opencv(monkeypatch):
    import cv2

    if "NONE" not in cv2.getBuildInformation().split("GUI:", 1)[1].split("\n", 1)[0].upper():
        pytest.skip("this OpenCV has a GUI")
    monkeypatch.setenv("DISPLAY", ":0")
    with pytest.raises(SinkUnavailable, match="opencv-python-headless"):
        open_sink("preview", size=(32, 32), fps=30)


@pytest.mark.parametrize(
    "spec, error, match",
    [
        ("obs", SinkUnavailable, "needs the OBS plugin"),
        ("speakers", CaptureError, "neither a sink name nor a video file"),
    ],
)
def test_open_sink_bad_specs(spec, error, match):
    with pytest.raises(error, match=match):
        open_sink(spec, size=(32, 32), fps=30)
