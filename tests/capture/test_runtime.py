"""capture/runtime.py: the single-slot mailbox, the live loop (newest frame wins, every frame that
goes in comes out in order, clean stops), and the live command line end to end."""

import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import pyvirtualcam

from capture.errors import CaptureError
from capture.frame import Frame
from capture.mailbox import Mailbox
from capture.restyler import Restyler
from capture.runtime import run_live, run_stream
from capture.sinks.null import NullSink
from capture.sinks.vcam import VirtualCameraSink
from capture.sources.pattern import PatternSource, pattern_image
from tests.capture.helpers import REPO, IdentityEngine, decode_video, make_video, run_v2v, v2v_env


def _frame(i: int) -> Frame:
    return Frame(pattern_image(i, (16, 16)), i / 30, i)


def test_mailbox_newest_frame_wins():
    box = Mailbox()
    for i in range(3):
        box.put(_frame(i))
    assert box.get(timeout=0).index == 2 and box.dropped == 2
    assert box.get(timeout=0.01) is None and not box.finished
    box.put(_frame(3))
    box.close()
    assert not box.finished and box.get(timeout=0).index == 3 and box.finished


def test_mailbox_get_wakes_on_put_from_another_thread():
    box = Mailbox()
    threading.Timer(0.05, box.put, args=(_frame(7),)).start()
    assert box.get(timeout=10).index == 7


class SlowEngine(IdentityEngine):
    """Slower than the source, so the mailbox has to drop frames."""

    def push(self, frames):
        time.sleep(0.01)
        return super().push(frames)


def test_live_loop_drops_at_the_mailbox_but_never_after_it():
    source, sink = PatternSource((32, 32), frames=200), NullSink()
    indices = []
    sink.write = lambda frame: indices.append(frame.index)
    result = run_live(source, sink, Restyler(SlowEngine(), (32, 32)), threading.Event(), pace=False, progress=False)
    assert result.frames_out == result.frames_in == len(indices)
    assert result.frames_in + result.dropped == 200 and result.dropped > 0
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_live_loop_stops_after_max_frames():
    source, sink = PatternSource((32, 32), fps=200, realtime=True), NullSink()
    result = run_live(
        source, sink, Restyler(IdentityEngine(), (32, 32)), threading.Event(), max_frames=10, progress=False
    )
    assert result.frames_in == 10 and sink.count == 10 and not result.interrupted


def test_live_loop_stops_on_the_stop_event_and_when_the_sink_asks():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    result = run_live(
        PatternSource((32, 32), fps=100, realtime=True),
        NullSink(),
        Restyler(IdentityEngine(), (32, 32)),
        stop,
        progress=False,
    )
    assert result.interrupted and result.frames_out == result.frames_in > 0

    sink = NullSink()
    original = sink.write

    def write(frame):
        original(frame)
        sink.wants_stop = frame.index >= 5

    sink.write = write
    result = run_live(
        PatternSource((32, 32), fps=100, realtime=True),
        sink,
        Restyler(IdentityEngine(), (32, 32)),
        threading.Event(),
        progress=False,
    )
    assert not result.interrupted and sink.count >= 6


def test_a_failing_source_is_raised_and_the_sink_closed():
    class Broken(PatternSource):
        def __iter__(self):
            yield from PatternSource((32, 32), frames=3)
            raise CaptureError("camera unplugged")

    sink = NullSink()
    closed = []
    sink.close = lambda: closed.append(True)
    with pytest.raises(CaptureError, match="camera unplugged"):
        run_live(Broken((32, 32)), sink, Restyler(IdentityEngine(), (32, 32)), threading.Event(), progress=False)
    assert closed


def test_a_file_into_a_file_drops_nothing(tmp_path):
    from capture.sinks import open_sink
    from capture.sources import open_source

    src = open_source(make_video(tmp_path / "in.mp4", frames=30))
    out = str(tmp_path / "out.mp4")
    sink = open_sink(out, size=src.size, fps=src.fps, time_base=src.time_base)
    result = run_stream(src, sink, Restyler(SlowEngine(), (64, 64)), threading.Event(), file_sink=True, progress=False)
    assert result.frames_out == 30 and result.dropped == 0 and len(decode_video(out)[0]) == 30


def test_pattern_reaches_a_registered_virtual_camera():
    sent = []

    class Camera:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            self.shape = (height, width, 3)

        def send(self, frame):
            sent.append(frame.reshape(self.shape))

        def close(self):
            pass

        def device(self):
            return "test"

        def native_fourcc(self):
            return None

    pyvirtualcam.register_backend("v2v-runtime-test", Camera)
    try:
        sink = VirtualCameraSink((48, 32), 100, backend="v2v-runtime-test")
        run_live(
            PatternSource((48, 32), fps=100, realtime=True),
            sink,
            Restyler(IdentityEngine(), (32, 32)),
            threading.Event(),
            max_frames=6,
            progress=False,
        )
    finally:
        pyvirtualcam.camera.BACKENDS.pop("v2v-runtime-test")
    assert len(sent) == 6 and sent[0].shape == (32, 48, 3)


def test_live_command_line_pattern_to_null(tiny_model):
    proc = run_v2v("--input", "pattern:96x64", "--output", "null", "--model", tiny_model, "--max-frames", "12")
    assert proc.returncode == 0, proc.stderr
    assert "12 frames to null" in proc.stderr and "Traceback" not in proc.stderr


def test_live_command_line_pattern_to_file(tmp_path, tiny_model):
    out = str(tmp_path / "live.mp4")
    proc = run_v2v("--input", "pattern:96x64", "--output", out, "--model", tiny_model, "--max-frames", "9")
    assert proc.returncode == 0, proc.stderr
    frames, times, _ = decode_video(out)
    assert len(frames) == 9 and frames[0].shape == (64, 96, 3)
    assert times == pytest.approx([i / 30 for i in range(9)], abs=1e-3)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_live_loop_cleanly(tiny_model, signum):
    proc = subprocess.Popen(
        [sys.executable, "-m", "v2v", "--input", "pattern:64x64", "--output", "null", "--model", tiny_model],
        cwd=REPO,
        env=v2v_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not re.search(r"frames \d+ · .* fps · latency", "".join(seen)):
        time.sleep(0.05)
    status_shown = bool(re.search(r"frames \d+ · .* fps · latency", "".join(seen)))
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 130
    reader.join(timeout=5)
    text = "".join(seen)
    assert status_shown, text  # the status line, printed as plain lines when stderr is not a terminal
    assert "frames to null" in text and "(interrupted)" in text and "Traceback" not in text
