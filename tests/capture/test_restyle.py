"""capture/restyle.py: file → file keeps every frame, the size, the frame rate, the timestamps and
the audio; a failure loses nothing; Ctrl-C leaves a playable file with the frames done so far."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from capture.errors import CaptureError
from capture.frame import Frame
from capture.restyle import plan_jobs, restyle_file
from capture.restyler import Restyler
from capture.sinks.file import partial_path
from capture.sources.pattern import pattern_image
from tests.capture.helpers import REPO, IdentityEngine, audio_packets, decode_video, make_video, v2v_env


def test_restyler_keeps_order_size_and_timestamps():
    engine = IdentityEngine()
    restyler = Restyler(engine, budget=(64, 64))
    frames = [Frame(pattern_image(i, (160, 90)), i / 30, i, pts=100 * i) for i in range(11)]
    out = restyler.push(frames[:3]) + restyler.push(frames[3:7]) + restyler.push(frames[7:]) + restyler.flush()
    assert restyler.size == (80, 48)  # 16:9 at about 64x64 pixels
    assert [(f.index, f.t, f.pts) for f in out] == [(f.index, f.t, f.pts) for f in frames]
    assert all(f.image.shape == (90, 160, 3) for f in out)


def test_restyle_with_identity_engine_gives_back_the_input(tmp_path):
    """The I/O alone: a wide clip through the working size and back looks like itself."""
    src = make_video(tmp_path / "wide.mp4", frames=10, size=(192, 108), fps=30)
    out = str(tmp_path / "out.mp4")
    result = restyle_file(src, out, Restyler(IdentityEngine(), budget=(128, 80)), threading.Event(), progress=False)
    assert (result.frames_in, result.frames_out, result.interrupted) == (10, 10, False)
    a, ta, _ = decode_video(src)
    b, tb, _ = decode_video(out)
    assert len(b) == 10 and b[0].shape == (108, 192, 3) and ta == tb
    assert np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b, strict=True)]) < 8


def test_restyle_keeps_frames_fps_size_timestamps_and_audio(tmp_path, tiny_model):
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.models.bundle import load_bundle

    src = make_video(tmp_path / "in.mp4", frames=14, size=(96, 64), fps=25, audio=True)
    out = str(tmp_path / "out.mp4")
    bundle = load_bundle(tiny_model)
    engine = StreamEngine(bundle, EngineConfig(prompt="realistic", strength=0.7))
    result = restyle_file(src, out, Restyler(engine, bundle.size), threading.Event(), progress=False)
    assert result.frames_out == 14
    a, ta, sa = decode_video(src)
    b, tb, sb = decode_video(out)
    assert len(b) == len(a) == 14 and b[0].shape == a[0].shape == (64, 96, 3)
    assert sb == sa == 25 and tb == pytest.approx(ta)
    assert audio_packets(out) == audio_packets(src) and audio_packets(src)


def test_a_failing_run_leaves_an_existing_output_as_it_was(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=20)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an older result")
    with pytest.raises(RuntimeError, match="engine failure"):
        restyle_file(
            src,
            str(out),
            Restyler(IdentityEngine(fail_after=9), (64, 64)),
            threading.Event(),
            overwrite=True,
            progress=False,
        )
    assert out.read_bytes() == b"an older result" and not os.path.exists(partial_path(str(out)))


def test_stop_finishes_a_playable_file_with_the_frames_done(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=48, fps=24, audio=True)
    out = str(tmp_path / "out.mp4")
    stop = threading.Event()

    class StopAfterFirstBatch(IdentityEngine):
        def push(self, frames):
            stop.set()
            return super().push(frames)

    result = restyle_file(src, out, Restyler(StopAfterFirstBatch(), (64, 64)), stop, progress=False)
    assert result.interrupted and result.frames_in == result.frames_out == 4
    assert len(decode_video(out)[0]) == 4
    kept, everything = audio_packets(out), audio_packets(src)
    assert 0 < len(kept) < len(everything)


def test_folder_to_folder(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_video(inputs / "a.mp4", frames=3)
    make_video(inputs / "b.mkv", frames=4)
    (inputs / "notes.txt").write_text("not a video")
    jobs = plan_jobs(str(inputs), str(tmp_path / "out"), overwrite=False)
    assert [os.path.basename(o) for _, o in jobs] == ["a.mp4", "b.mkv"]
    for path, out in jobs:
        restyle_file(path, out, Restyler(IdentityEngine(), (64, 64)), threading.Event(), progress=False)
    assert len(decode_video(tmp_path / "out" / "b.mkv")[0]) == 4
    with pytest.raises(CaptureError, match="already exists: pass --overwrite"):
        plan_jobs(str(inputs), str(tmp_path / "out"), overwrite=False)
    with pytest.raises(CaptureError, match="is the input folder"):
        plan_jobs(str(inputs), str(inputs), overwrite=True)


def test_a_file_into_a_folder_takes_its_name(tmp_path):
    src = make_video(tmp_path / "clip.mov", frames=2)
    (tmp_path / "out").mkdir()
    assert plan_jobs(src, str(tmp_path / "out"), False) == [(src, str(tmp_path / "out" / "clip.mp4"))]


def test_ctrl_c_leaves_a_playable_file(tmp_path, tiny_model):
    """`python -m v2v restyle` on a longer clip, SIGINT once the first frames are done: exit 130 and
    a file that plays with some but not all of the frames, audio included."""
    total = 480
    src = make_video(tmp_path / "long.mp4", frames=total, size=(64, 48), fps=24, audio=True)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "v2v", "restyle", src, str(out), "--model", tiny_model, "--size", "128x96"],
        cwd=REPO,
        env=v2v_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []

    def read():
        for chunk in iter(lambda: proc.stderr.read(1), ""):
            seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = [int(n) for n in re.findall(rf"(\d+)/{total}", "".join(seen))]
        if done and max(done) >= 8:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    assert proc.wait(timeout=60) == 130, "".join(seen)
    reader.join(timeout=5)
    frames, _, _ = decode_video(out)
    assert 1 <= len(frames) < total
    assert audio_packets(out) and not os.path.exists(partial_path(str(out)))
    assert "Traceback" not in "".join(seen)
