"""capture/pipeline.py, capture/mailbox.py and capture/sinks/fanout.py: the lossless mailbox, several
sinks at once (the same frames to each; one failing aborts all), steering between chunks, pause, quit,
the source ending, and the numbers of a run."""

import os
import threading

import pytest

from capture.cli import main
from capture.control import Steering
from capture.errors import CaptureError
from capture.frame import Frame
from capture.mailbox import Mailbox
from capture.pipeline import PipelineConfig, Stats, run_pipeline
from capture.restyler import Restyler
from capture.runtime import Controls, run_live
from capture.sinks import open_sinks
from capture.sinks.fanout import FanOut
from capture.sinks.file import VideoFileSink, partial_path
from capture.sinks.null import NullSink
from capture.sources.pattern import PatternSource, pattern_image
from tests.capture.helpers import IdentityEngine, decode_video


def _frame(i: int) -> Frame:
    return Frame(pattern_image(i, (16, 16)), i / 30, i)


class Recorder(NullSink):
    """A null sink that keeps the indices it got and says how it ended."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.indices: list[int] = []
        self.ended: str | None = None
        self.fail_after = fail_after  # raise OSError at the write after this many

    def write(self, frame):
        if len(self.indices) == self.fail_after:
            raise OSError("no space left on the test device")
        super().write(frame)
        self.indices.append(frame.index)

    def close(self):
        self.ended = "closed"

    def abort(self):
        self.ended = "aborted"


def test_lossless_mailbox_makes_the_producer_wait_and_drops_nothing():
    box = Mailbox(capacity=2, lossless=True)
    got = []

    def produce():
        for i in range(10):
            assert box.put(_frame(i))
        box.close()

    producer = threading.Thread(target=produce)
    producer.start()
    while not box.finished:
        got.extend(f.index for f in box.take(2, timeout=1))
    producer.join()
    assert got == list(range(10)) and box.dropped == 0


def test_take_gives_a_whole_batch_until_the_box_closes_and_cancel_wakes_everyone():
    box = Mailbox(capacity=4, lossless=True)
    for i in range(3):
        box.put(_frame(i))
    assert box.take(4, timeout=0.01) == []  # three are not a batch of four
    box.close()
    assert [f.index for f in box.take(4, timeout=0)] == [0, 1, 2] and box.finished

    full = Mailbox(capacity=1, lossless=True)
    full.put(_frame(0))
    results = []
    waiter = threading.Thread(target=lambda: results.append(full.put(_frame(1))))
    waiter.start()
    full.cancel()
    waiter.join(timeout=10)
    assert results == [False] and full.get(timeout=0) is None


def test_hold_keeps_the_newest_items_of_a_lossy_box():
    box = Mailbox()
    for i in range(3):
        box.put(_frame(i))
    assert box.dropped == 2
    box.hold(3)
    for i in range(3, 6):
        box.put(_frame(i))
    assert [f.index for f in box.take(3, timeout=0)] == [3, 4, 5] and box.dropped == 3
    for i in range(6, 9):
        box.put(_frame(i))
    box.hold(2)  # shrinking drops the oldest
    assert [f.index for f in box.take(2, timeout=0)] == [7, 8] and box.dropped == 4
    with pytest.raises(ValueError, match="at least one"):
        box.hold(0)


class SlowEngine(IdentityEngine):
    """An engine slower than its source: every chunk takes a while."""

    def push(self, frames):
        out = super().push(frames)
        if out.numel():
            threading.Event().wait(0.08)  # 80 ms a chunk, while the source gives a frame every 10 ms
        return out


class RecordingRestyler(Restyler):
    """Keeps the indices of the frames of every push."""

    def __init__(self, engine):
        super().__init__(engine, (32, 32))
        self.pushes: list[list[int]] = []

    def push(self, frames):
        self.pushes.append([f.index for f in frames])
        return super().push(frames)


def test_live_the_engine_gets_a_whole_chunk_of_the_newest_frames_at_once():
    restyler = RecordingRestyler(SlowEngine())
    result = run_live(
        PatternSource((32, 32), fps=100, frames=150, realtime=True),
        Recorder(),
        restyler,
        threading.Event(),
        pace=False,
        progress=False,
    )
    assert result.dropped > 0  # the source is faster than the engine
    # the first chunk is one frame; after it every push is the next chunk's four frames, one after another in
    # the source (a one-frame slot would hand the engine one frame a push and make it wait for the others)
    middle = restyler.pushes[1:-1]
    assert len(middle) >= 5 and all(p == list(range(p[0], p[0] + 4)) for p in middle), restyler.pushes


def test_two_sinks_get_the_same_frames_live():
    a, b = Recorder(), Recorder()
    result = run_live(
        PatternSource((32, 32), frames=40),
        FanOut([a, b]),
        Restyler(IdentityEngine(), (32, 32)),
        threading.Event(),
        pace=False,
        progress=False,
    )
    assert a.indices == b.indices and len(a.indices) == result.frames_out > 0
    assert a.ended == b.ended == "closed"


def test_two_files_get_the_same_frames(tmp_path):
    outs = [str(tmp_path / "a.mp4"), str(tmp_path / "b.mkv")]
    sink = open_sinks(outs, size=(32, 32), fps=30)
    assert isinstance(sink, FanOut) and sink.describe() == "file a.mp4 32x32, file b.mkv 32x32"
    config = PipelineConfig(lossless=True, pace=False, batch=4)
    result = run_pipeline(
        PatternSource((32, 32), frames=9), sink, Restyler(IdentityEngine(), (32, 32)), threading.Event(), config
    )
    assert result.frames_out == 9 and result.source_ended and result.dropped == 0
    first, second = decode_video(outs[0])[0], decode_video(outs[1])[0]
    assert len(first) == len(second) == 9
    assert all((x == y).all() for x, y in zip(first, second, strict=True))


def test_a_failing_sink_aborts_the_others(tmp_path):
    out = tmp_path / "kept.mp4"
    out.write_bytes(b"an older result")
    before, after = Recorder(), Recorder()
    file_sink = VideoFileSink(str(out), (32, 32), 30, overwrite=True)
    failing = Recorder(fail_after=5)
    with pytest.raises(OSError, match="no space left"):
        run_live(
            PatternSource((32, 32), fps=200, frames=60, realtime=True),
            FanOut([before, file_sink, failing, after]),
            Restyler(IdentityEngine(), (32, 32)),
            threading.Event(),
            pace=False,
            progress=False,
        )
    assert before.ended == failing.ended == after.ended == "aborted" and len(before.indices) == 6
    assert out.read_bytes() == b"an older result" and not os.path.exists(partial_path(str(out)))


def test_opening_several_sinks_aborts_the_opened_ones_when_one_fails(tmp_path):
    first = tmp_path / "first.mp4"
    with pytest.raises(CaptureError, match="must end in"):
        open_sinks([str(first), str(tmp_path / "second.avi")], size=(32, 32), fps=30)
    assert not os.path.exists(partial_path(str(first))) and not first.exists()
    with pytest.raises(CaptureError, match="given twice"):
        open_sinks(["null", "null"], size=(32, 32), fps=30)
    assert isinstance(open_sinks(["null"], size=(32, 32), fps=30), NullSink)


def test_the_command_line_writes_to_every_output(tmp_path, tiny_model, capsys):
    out = str(tmp_path / "live.mp4")
    rc = main(
        ["--input", "pattern:64x48", "--output", "null", "--output", out, "--model", tiny_model, "--max-frames", "6"]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"6 frames to null, {out}" in err and len(decode_video(out)[0]) == 6


class PromptEngine(IdentityEngine):
    """Records the prompt each chunk ran with, and lets the test act once a chunk is done."""

    def __init__(self, after_chunk=None):
        super().__init__()
        self.after_chunk = after_chunk

    def push(self, frames):
        before = self.chunks
        out = super().push(frames)
        if self.after_chunk is not None and self.chunks > before:
            self.after_chunk(self.chunks)
        return out


def test_a_prompt_change_reaches_the_engine_within_two_chunks():
    steering = Steering("blocky", 0.7)
    asked_at = []

    def after_chunk(done):
        if done == 3:
            steering.update(prompt="realistic sunny hills", strength=0.4)
            asked_at.append(done)
        if done == 8:
            steering.quit.set()

    engine = PromptEngine(after_chunk)
    engine.prompt = "blocky"  # the engine starts with the prompt the steering starts with
    result = run_live(
        PatternSource((32, 32), fps=200, realtime=True),
        NullSink(),
        Restyler(engine, (32, 32)),
        threading.Event(),
        pace=False,
        progress=False,
        controls=Controls(steering),
    )
    assert asked_at == [3] and not result.interrupted and not result.source_ended
    k = asked_at[0]
    assert engine.chunk_prompts[:k] == ["blocky"] * k
    assert "realistic sunny hills" in engine.chunk_prompts[k : k + 2] and engine.strength == 0.4
    assert result.frames_out == result.frames_in  # quit flushes and delivers what went in


def test_pause_takes_no_frames_until_resume():
    steering = Steering()
    steering.update(paused=True)
    engine = IdentityEngine()
    stats = Stats()
    done = []
    source = PatternSource((32, 32), fps=200, realtime=True)
    thread = threading.Thread(
        target=lambda: done.append(
            run_pipeline(
                source,
                NullSink(),
                Restyler(engine, (32, 32)),
                threading.Event(),
                PipelineConfig(max_frames=12),
                steering,
                stats=stats,
            )
        )
    )
    thread.start()
    while stats.frames_captured < 10 and thread.is_alive():  # the source runs, the engine takes nothing
        threading.Event().wait(0.01)
    assert engine.pushed == 0 and not done
    steering.update(paused=False)
    thread.join(timeout=30)
    assert done and done[0].frames_in == 12 and engine.pushed == 12


def test_the_source_ending_ends_the_run_and_the_numbers_are_kept():
    stats = Stats()
    result = run_pipeline(
        PatternSource((32, 32), frames=20),
        NullSink(),
        Restyler(IdentityEngine(), (32, 32)),
        threading.Event(),
        PipelineConfig(lossless=True, pace=False, batch=4),
        stats=stats,
    )
    assert result.source_ended and result.frames_in == result.frames_out == 20
    snapshot = stats.snapshot()
    assert snapshot["frames"] == 20 and snapshot["dropped"] == 0
    assert 0 <= snapshot["latency_p50_ms"] <= snapshot["latency_p95_ms"] and snapshot["fps"] >= 0
