"""Glass-to-glass latency from the picture alone: what a viewer sees, measured by the frame counter that
the test pattern draws into every frame (capture/counter.py).

    python bench/glass_to_glass.py [--setup pattern|window|both] [--seconds 10] [--passthrough] [--json]
                                   [--model default|PATH] [--strength S] [--size WxH] [--fps F] ...

Two set-ups, each through the real live runtime:

- pattern: the real-time pattern source → `capture.runtime.run_stream` (what `python -m v2v --input
  pattern --output null` runs, in this process) → the null sink, wrapped so that each frame's arrival is
  timed and its counter read. Latency = arrival − the time the counter's frame was due at the source
  (`start_time + i / fps`).
- window: Xvfb, a pygame window playing the pattern at --fps (bench/glass_to_glass_window.py; it writes
  its start time to a file), `python -m v2v --input window:TITLE --output udp://127.0.0.1:PORT` in a
  subprocess (bench/glass_to_glass_live.py, the same command line), and a receiver here that reads the
  UDP stream with PyAV's MPEG-TS demuxer and H.264 decoder and reads the counter of each frame as it is
  decoded. Latency = decoded − the time the window began showing the counter's frame: window, capture,
  model, encoding, the network and decoding.

Per set-up: output frames seen, the share whose counter decoded (a restyle may damage the code; lower
--strength keeps more of it), latency p50 / p95 / p99 in ms over the decoded frames after --warmup
seconds, the first decoded frame's latency, and the model and working size. `--passthrough` replaces the
engine by an identity (every frame back at once, unchanged): the pipeline's own latency. Timing lives in
benchmarks, never in tests; numbers depend on the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from glass_to_glass_live import make_stage_engine

from capture import cli, cli_model
from capture.counter import counter_latency, decode_counter
from capture.errors import CaptureError
from capture.frame import Frame, fit_size
from capture.restyler import Restyler
from capture.runtime import run_stream
from capture.sinks.null import NullSink
from capture.sources import open_source

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STARTUP_S = 300.0  # seconds the first output frame may take (model loading, a first compile)
WINDOW_S = 20.0  # seconds the pattern window may take to show its first frame
STOP_S = 30.0  # seconds the live command has to finish after the first Ctrl-C
QUIET_S = 1.0  # the stream counts as ended after this long without a datagram once the sender is gone
RECV_BUFFER = 8 << 20  # bytes of the receiving socket's buffer: a burst of frames never overflows it


# ---- what a set-up measured -------------------------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    """One output frame as it arrived."""

    at: float  # time.monotonic() when it arrived (written to the sink, or out of the decoder)
    latency: float | None  # seconds from its counter's due time to `at`; None: the counter did not decode
    number: int | None  # the frame number its counter holds
    wire: float | None = None  # time.monotonic() when its first datagram reached the socket (None: unknown)


@dataclass
class Arrivals:
    """Output frames as they arrived, and the clock of the pattern that made them."""

    start: Callable[[], float | None]  # the source's start time (time.monotonic()), once known
    fps: float  # the source's frame rate: frame i was due at start + i / fps
    seen: list[Arrival] = field(default_factory=list)
    stopped: float | None = None  # when the run was asked to stop: later frames are not measured
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, image: np.ndarray, now: float, wire: float | None = None) -> int | None:
        """Note `image` (uint8 RGB [H, W, 3]) arrived at `now` (its first datagram at `wire`); return
        the number its counter holds."""
        start = self.start()
        latency = None if start is None else counter_latency(image, now, start, self.fps)
        number = decode_counter(image) if latency is not None else None
        with self._lock:
            self.seen.append(Arrival(now, latency, number, wire))
        return number

    @property
    def first(self) -> float | None:
        """When the first frame arrived (None: none yet)."""
        with self._lock:
            return self.seen[0].at if self.seen else None


@dataclass
class SetupResult:
    """One set-up's numbers (times in ms)."""

    setup: str  # "pattern" or "window"
    path: str  # what the frames went through
    model: str  # the model's name, or "passthrough (identity engine; size from model NAME)"
    size: tuple[int, int]  # the working size (W, H) the engine ran at
    input_size: tuple[int, int]  # the pattern's size (W, H)
    fps: float  # the pattern's frame rate
    strength: float
    frames: int  # output frames seen
    decoded: int  # of those, the frames whose counter decoded
    decoded_share: float  # decoded / frames
    measured: int  # decoded frames after the warm-up and before the stop: the latencies below
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    first_frame_ms: float | None  # the first decoded frame's latency (warm-up included)
    socket_p50_ms: float | None = None  # window: the same frames when their first datagram arrived,
    socket_p95_ms: float | None = None  # before the viewer's demuxer held them (the rest is the demuxer's)
    dropped: int | None = None  # frames the live inbox dropped (pattern set-up; None: not known)
    counter_mismatches: int | None = None  # decoded counters other than the frame's index (pattern)
    source_late_ms_p95: float | None = None  # how late the window showed its frames (window)


def _percentiles(values: list[float], qs: tuple[float, ...]) -> list[float | None]:
    """Percentiles `qs` of `values` (seconds) in ms; None each when there are none."""
    return np.percentile(np.array(values) * 1000.0, qs).tolist() if values else [None] * len(qs)


def summarize(arrivals: Arrivals, warmup_s: float) -> dict[str, Any]:
    """frames, decoded, decoded_share, measured, latency_p50/p95/p99_ms, first_frame_ms and (where
    datagram times are known) socket_p50/p95_ms of `arrivals`; the percentiles skip frames that arrived
    within `warmup_s` of the first, and those after the stop was asked (the end of a stream: the
    engine's flush, the demuxer's last frame)."""
    seen = list(arrivals.seen)
    decoded = [a for a in seen if a.latency is not None]
    first = seen[0].at if seen else 0.0
    last = arrivals.stopped if arrivals.stopped is not None else float("inf")
    steady = [a for a in decoded if first + warmup_s <= a.at <= last]
    p50, p95, p99 = _percentiles([a.latency for a in steady if a.latency is not None], (50, 95, 99))
    wired = [a.latency - (a.at - a.wire) for a in steady if a.latency is not None and a.wire is not None]
    body = {
        "frames": len(seen),
        "decoded": len(decoded),
        "decoded_share": len(decoded) / len(seen) if seen else 0.0,
        "measured": len(steady),
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "latency_p99_ms": p99,
        "first_frame_ms": decoded[0].latency * 1000.0 if decoded and decoded[0].latency is not None else None,
    }
    if wired:
        body["socket_p50_ms"], body["socket_p95_ms"] = _percentiles(wired, (50, 95))
    return body


def _model_args(opts: argparse.Namespace) -> list[str]:
    """The live command's model options for `opts`."""
    args = ["--model", opts.model, "--strength", opts.strength, "--device", opts.device, "--fps", str(opts.fps)]
    if opts.prompt:
        args += ["--prompt", opts.prompt]
    return args + (["--size", opts.size] if opts.size else [])


def _label(model: str, passthrough: bool) -> str:
    return f"passthrough (identity engine; size from model {model})" if passthrough else model


def _wait_for_first(arrivals: Arrivals, alive: Callable[[], bool], what: str) -> float:
    """When the first output frame arrived; a CaptureError if `what` ends or takes over STARTUP_S first."""
    deadline = time.monotonic() + STARTUP_S
    while (first := arrivals.first) is None:
        if not alive():
            raise CaptureError(f"{what} ended before its first output frame")
        if time.monotonic() > deadline:
            raise CaptureError(f"{what} gave no output frame in {STARTUP_S:g} s: check the model and --device")
        time.sleep(0.05)
    return first


# ---- set-up 1: pattern → the live pipeline → a measuring sink ------------------------------------
class CounterSink:
    """The null sink (what `--output null` opens), with each frame's arrival timed and its counter read."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.inner = NullSink()
        self.name = self.inner.name
        self.arrivals = arrivals
        self.mismatches = 0  # counters that decoded to another number than the frame's index

    @property
    def wants_stop(self) -> bool:
        """Whether the wrapped sink asks to stop (never)."""
        return self.inner.wants_stop

    def write(self, frame: Frame) -> None:
        """Time the frame's arrival, read its counter, hand it on."""
        now = time.monotonic()
        number = self.arrivals.add(frame.image, now)
        if number is not None and number != frame.index:
            self.mismatches += 1
        self.inner.write(frame)

    def close(self) -> None:
        """Close the wrapped sink."""
        self.inner.close()

    def abort(self) -> None:
        """Abort the wrapped sink."""
        self.inner.abort()

    def describe(self) -> str:
        """ "null (timed)"."""
        return f"{self.inner.describe()} (timed)"


def run_pattern(opts: argparse.Namespace) -> SetupResult:
    """pattern → run_stream → CounterSink for --seconds after the first output (see the module docstring)."""
    args = cli.build_parser().parse_args(_model_args(opts))
    size = cli.parse_size(opts.size)
    w, h = opts.input_size
    source = open_source(f"pattern:{w}x{h}", realtime=True, fps=opts.fps)
    arrivals = Arrivals(lambda: getattr(source, "start_time", None), opts.fps)
    sink = CounterSink(arrivals)
    try:
        bundle, engine = make_stage_engine(args, size, opts.passthrough)
    except BaseException:
        source.close()
        raise
    restyler = Restyler(engine, bundle.size, size, cli_model.size_multiple(bundle))
    stop = threading.Event()
    done = threading.Event()
    failure: list[BaseException] = []

    def watch() -> None:  # ends the run --warmup + --seconds after its first output
        try:
            first = _wait_for_first(arrivals, lambda: not done.is_set(), "the pattern run")
            stop.wait(max(0.0, first + opts.warmup + opts.seconds - time.monotonic()))
        except CaptureError as e:
            failure.append(e)
        arrivals.stopped = time.monotonic()
        stop.set()

    watcher = threading.Thread(target=watch, name="g2g-watch", daemon=True)
    watcher.start()
    try:
        result = run_stream(source, sink, restyler, stop, file_sink=False, progress=False)
    finally:
        done.set()
        stop.set()
        watcher.join()
    if failure:
        raise failure[0]
    return SetupResult(
        setup="pattern",
        path=f"pattern {w}x{h} at {opts.fps:g} fps → live pipeline (run_stream, paced) → null sink, timed",
        model=_label(bundle.name, opts.passthrough),
        size=restyler.size or (0, 0),
        input_size=opts.input_size,
        fps=opts.fps,
        strength=float(args.strength),
        dropped=result.dropped,
        counter_mismatches=sink.mismatches,
        **summarize(arrivals, opts.warmup),
    )


# ---- set-up 2: an X window → python -m v2v → udp:// → PyAV ----------------------------------------
@contextlib.contextmanager
def xvfb(size: tuple[int, int]) -> Iterator[str]:
    """A fresh Xvfb with a screen of `size` (W, H); yields its display name (":N")."""
    if not shutil.which("Xvfb"):
        raise CaptureError("the window set-up needs Xvfb: apt-get install xvfb (or run --setup pattern)")
    read_end, write_end = os.pipe()  # Xvfb picks a free display and writes its number here
    screen = f"{size[0]}x{size[1]}x24"
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()
        if not number:
            raise CaptureError("Xvfb did not start: run `Xvfb :99` by hand to see why")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait()


TS_PACKET = 188  # bytes of an MPEG-TS packet


def pes_starts(datagram: bytes) -> list[int]:
    """The PTS (90 kHz ticks) of every video PES that starts in `datagram` (whole MPEG-TS packets)."""
    found = []
    for at in range(0, len(datagram) - TS_PACKET + 1, TS_PACKET):
        packet = datagram[at : at + TS_PACKET]
        if packet[0] != 0x47 or not packet[1] & 0x40:  # no sync byte, or no payload unit starts here
            continue
        body = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)  # after the adaptation field, if any
        pes = packet[body:]
        if len(pes) < 14 or pes[:3] != b"\x00\x00\x01" or not 0xE0 <= pes[3] <= 0xEF or not pes[7] & 0x80:
            continue  # not a video PES with a PTS
        p = pes[9:14]
        found.append((p[0] >> 1 & 7) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1)
    return found


class DatagramReader:
    """A file-like view of a bound UDP socket for PyAV: `read` returns the bytes of the datagrams as
    they come, and b"" (the end) once `end` is set and nothing came for QUIET_S. `wire` maps the PTS of
    each video PES to when its first datagram came."""

    def __init__(self, sock: socket.socket, end: threading.Event) -> None:
        self.sock = sock
        self.end = end
        self.last = time.monotonic()
        self.wire: dict[int, float] = {}
        self._pending = b""

    def read(self, n: int) -> bytes:
        """Up to `n` bytes: what is left of the last datagram, else the next datagram."""
        while not self._pending:
            try:
                self._pending = self.sock.recv(65536)
            except TimeoutError:
                if self.end.is_set() and time.monotonic() - self.last > QUIET_S:
                    return b""
                continue
            self.last = time.monotonic()
            for pts in pes_starts(self._pending):
                self.wire.setdefault(pts, self.last)
        data, self._pending = self._pending[:n], self._pending[n:]
        return data


class StreamReceiver:
    """Reads the MPEG-TS stream sent to a bound loopback port with PyAV (its MPEG-TS demuxer and H.264
    decoder, as ffplay and OBS's Media Source do), in a thread, and notes the counter of each frame as it
    comes out of the decoder. The demuxer hands a frame on only once the next one starts to arrive."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        self.sock.bind(("127.0.0.1", 0))  # bound before anything is sent: the first keyframe is not lost
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.end = threading.Event()  # the sender is gone: stop at the next quiet
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._receive, name="g2g-receive", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        reader = DatagramReader(self.sock, self.end)
        probe = {"probesize": "32", "analyzeduration": "0"}  # start decoding at the first keyframe
        try:
            with av.open(reader, "r", format="mpegts", options=probe) as container:
                video = container.streams.video[0]
                video.codec_context.thread_type = "SLICE"  # frame threads would hold frames back
                for packet in container.demux(video):
                    for frame in packet.decode():
                        now = time.monotonic()
                        wire = reader.wire.pop(frame.pts, None) if frame.pts is not None else None
                        self.arrivals.add(frame.to_ndarray(format="rgb24"), now, wire)
        except av.FFmpegError as e:  # no stream came at all, or it could not be read
            self.errors.append(e)
        finally:
            self.sock.close()

    def finish(self) -> None:
        """After the sender ended: read what is still coming, then stop."""
        self.end.set()
        self._thread.join()
        if self.errors:
            raise CaptureError(f"reading the stream failed: {' '.join(str(self.errors[0]).split())}")


def _wait_for_clock(path: Path, window: subprocess.Popen) -> dict[str, Any]:
    deadline = time.monotonic() + WINDOW_S
    while not path.exists():
        if window.poll() is not None:
            raise CaptureError("the pattern window ended at once: is pygame installed? (pip install pygame)")
        if time.monotonic() > deadline:
            raise CaptureError(f"the pattern window showed nothing in {WINDOW_S:g} s")
        time.sleep(0.02)
    return dict(json.loads(path.read_text()))


def _stop(process: subprocess.Popen, first: int, wait_s: float) -> None:
    """Send `first` to `process`; kill it if it has not ended after `wait_s` seconds."""
    if process.poll() is None:
        process.send_signal(first)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 4) -> str:
    """The last `lines` non-empty lines of a log (status lines redrawn with \\r count one each)."""
    text = path.read_text(errors="replace").replace("\r", "\n") if path.exists() else ""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def run_window(opts: argparse.Namespace) -> SetupResult:
    """Xvfb window → `python -m v2v --input window:TITLE --output udp://…` → StreamReceiver."""
    w, h = opts.input_size
    title = f"v2v glass-to-glass {os.getpid()}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="v2v-g2g-") as tmp, xvfb((w + 64, h + 64)) as display:
        env.update(DISPLAY=display)
        env.pop("WAYLAND_DISPLAY", None)
        clock_path, model_path, log_path = Path(tmp, "clock.json"), Path(tmp, "model.json"), Path(tmp, "live.log")
        window = subprocess.Popen(
            [sys.executable, str(HERE / "glass_to_glass_window.py"), title, f"{w}x{h}", str(opts.fps), str(clock_path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        live, receiver = None, None
        try:
            clock = _wait_for_clock(clock_path, window)
            arrivals = Arrivals(lambda: float(clock["start"]), float(clock["fps"]))
            receiver = StreamReceiver(arrivals)
            live_args = ["--input", f"window:{title}", "--output", f"udp://127.0.0.1:{receiver.port}"]
            live_args += ["--parent-pid", str(os.getpid()), *_model_args(opts)]
            mode = "passthrough" if opts.passthrough else "model"
            with open(log_path, "w") as log:
                live = subprocess.Popen(
                    [sys.executable, str(HERE / "glass_to_glass_live.py"), str(model_path), mode, "--", *live_args],
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            try:
                first = _wait_for_first(arrivals, lambda: live is not None and live.poll() is None, "the live command")
            except CaptureError as e:
                raise CaptureError(f"{e}; its last messages: {_tail(log_path)!r}") from None
            time.sleep(max(0.0, first + opts.warmup + opts.seconds - time.monotonic()))
            arrivals.stopped = time.monotonic()
            _stop(live, signal.SIGINT, STOP_S)
            if live.returncode not in (0, 130):  # 130: stopped by the Ctrl-C above, as a user stops it
                raise CaptureError(f"the live command failed (exit {live.returncode}): {_tail(log_path)!r}")
            receiver.finish()
            _stop(window, signal.SIGTERM, 5.0)
            clock = dict(json.loads(clock_path.read_text()))
            model = dict(json.loads(model_path.read_text()))
        finally:
            if receiver is not None:
                receiver.end.set()
            for process in (live, window):
                if process is not None:
                    _stop(process, signal.SIGKILL, 5.0)
    size = cli.parse_size(opts.size) or fit_size((w, h), tuple(model["budget"]), int(model["multiple"]))
    return SetupResult(
        setup="window",
        path=f"Xvfb window {w}x{h} at {opts.fps:g} fps → python -m v2v --input window:… --output udp://127.0.0.1 → "
        "PyAV (MPEG-TS, H.264) on arrival",
        model=_label(str(model["model"]), opts.passthrough),
        size=size,
        input_size=opts.input_size,
        fps=opts.fps,
        strength=float(opts.strength),
        source_late_ms_p95=clock.get("late_ms_p95"),
        **summarize(arrivals, opts.warmup),
    )


# ---- the command line ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The options (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python bench/glass_to_glass.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--setup", choices=("pattern", "window", "both"), default="both", help="which set-up (default both)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds measured after the warm-up (default 10)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds after the first output left out (default 1)")
    p.add_argument("--model", default="default", help="default (the shipped model) or a model folder")
    p.add_argument("--strength", default="0.7", help="in (0, 1]: low keeps more of the counter (default 0.7)")
    p.add_argument("--prompt", default="", help="the style prompt (default none)")
    p.add_argument("--size", default=None, metavar="WxH", help="working size (default: the model's, at 16:9)")
    p.add_argument("--input-size", default="640x360", metavar="WxH", help="the pattern's size (default 640x360)")
    p.add_argument("--fps", type=float, default=30.0, help="the pattern's frame rate (default 30)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the model runs")
    p.add_argument("--passthrough", action="store_true", help="an identity engine: the pipeline without the model")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _print_table(results: list[SetupResult]) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    print(f"{'set-up':8} {'frames':>6} {'decoded':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'first':>6}", end="")
    print(f" {'socket p50/p95':>14}  size")
    for r in results:
        socket_ms = f"{ms(r.socket_p50_ms)}/{ms(r.socket_p95_ms)}" if r.socket_p50_ms is not None else "-"
        print(
            f"{r.setup:8} {r.frames:6d} {r.decoded_share:7.0%} {ms(r.latency_p50_ms):>7} {ms(r.latency_p95_ms):>7} "
            f"{ms(r.latency_p99_ms):>7} {ms(r.first_frame_ms):>6} {socket_ms:>14}  {r.size[0]}x{r.size[1]}"
        )
    for r in results:
        print(f"{r.setup}: {r.path}; model {r.model}, strength {r.strength:g}")


def main(argv: list[str]) -> int:
    """Run the set-ups asked for; print the table (or JSON). 1 with `error: ...` on a bad input."""
    opts = build_parser().parse_args(argv)
    try:
        input_size = cli.parse_size(opts.input_size, "--input-size")
        if opts.seconds <= 0 or opts.warmup < 0 or opts.fps <= 0:
            raise CaptureError("--seconds and --fps must be above 0 and --warmup at least 0, e.g. --seconds 10")
        opts.input_size = input_size
        setups = ("pattern", "window") if opts.setup == "both" else (opts.setup,)
        results = [run_pattern(opts) if s == "pattern" else run_window(opts) for s in setups]
    except CaptureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if opts.json:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        body = {
            "passthrough": opts.passthrough,
            "seconds": opts.seconds,
            "warmup_s": opts.warmup,
            "cpus": os.cpu_count(),
            "load_1min": load,
            "setups": [asdict(r) for r in results],
        }
        print(json.dumps(body))
    else:
        _print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
