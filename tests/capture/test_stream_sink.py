"""capture/sinks/stream: the UDP MPEG-TS stream is read back (from a bound socket, and by PyAV as a
viewer) and its frames compared with what was sent; bad URLs are one-line errors with the fix."""

import io
import socket
import threading
import time

import av
import numpy as np
import pytest

from capture.counter import decode_counter
from capture.errors import CaptureError, SinkUnavailable
from capture.sinks import is_file_sink, open_sink
from capture.sinks.stream import PACKET_SIZE, StreamSink
from capture.sources.pattern import PatternSource, pattern_image, pattern_square_x

TS_PACKET = 188


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Listener:
    """A UDP socket bound before anything is sent; a thread keeps every datagram that arrives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.port = self.socket.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.socket.recv(65536))
                self.last = time.monotonic()
            except TimeoutError:
                continue

    def finish(self, quiet_s: float = 0.3) -> bytes:
        """Wait until nothing came for `quiet_s`, stop, and return the bytes received."""
        while time.monotonic() - self.last < quiet_s:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        self.socket.close()
        return b"".join(self.datagrams)


def _decode(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _send_pattern(sink, size, frames: int) -> None:
    for frame in PatternSource(size, fps=30, frames=frames):
        sink.write(frame)
        time.sleep(0.002)  # a little pacing, so the socket's buffer never overflows


def _square_left(image: np.ndarray) -> int:
    row = image[image.shape[0] // 2]
    return int(np.argmax(row.min(axis=-1) > 200))


def test_udp_stream_carries_every_frame_as_sent(capsys):
    size, frames = (640, 360), 40
    listener = Listener()
    sink = open_sink(f"udp://:{listener.port}", size=size, fps=30)  # no host: this machine
    assert isinstance(sink, StreamSink) and sink.name == f"udp://127.0.0.1:{listener.port}"
    assert f"udp://127.0.0.1:{listener.port}" in sink.describe()
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "ffplay" in line and "mpegts" in line and "127.0.0.1" in line
    _send_pattern(sink, size, frames)
    sink.close()
    data = listener.finish()
    sizes = {len(d) for d in listener.datagrams}
    assert max(sizes) == PACKET_SIZE and all(n % TS_PACKET == 0 for n in sizes)
    assert all(d[0] == 0x47 for d in listener.datagrams)  # every datagram starts on a TS packet
    decoded = _decode(data)
    assert len(decoded) == frames
    for i, image in enumerate(decoded):
        assert image.shape == (360, 640, 3)
        assert decode_counter(image) == i
        assert np.abs(image.astype(int) - pattern_image(i, size)).mean() < 6
        assert abs(_square_left(image) - pattern_square_x(i, size)) <= 2


def test_odd_sizes_are_padded_and_other_sizes_resized():
    listener = Listener()
    sink = StreamSink(f"udp://127.0.0.1:{listener.port}", (321, 181), 25, announce=False)
    _send_pattern(sink, (321, 181), 3)
    _send_pattern(sink, (642, 362), 2)  # resized to the sink's size
    sink.close()
    decoded = _decode(listener.finish())
    assert len(decoded) == 5 and all(image.shape == (182, 322, 3) for image in decoded)


def test_a_viewer_joining_the_stream_sees_the_frames_sent():
    """PyAV opens the stream as a viewer does (ffplay, OBS's Media Source) and joins at a keyframe."""
    size, port = (320, 180), _free_port()
    seen: list[np.ndarray] = []
    failure: list[BaseException] = []

    def watch() -> None:
        try:
            url = f"udp://127.0.0.1:{port}?timeout=5000000&overrun_nonfatal=1&fifo_size=100000"
            with av.open(url, format="mpegts", timeout=10) as container:
                for frame in container.decode(video=0):
                    seen.append(frame.to_ndarray(format="rgb24"))
                    if len(seen) == 10:
                        return
        except av.FFmpegError as e:
            failure.append(e)

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    sink = StreamSink(f"udp://127.0.0.1:{port}", size, 30, announce=False)
    for frame in PatternSource(size, fps=30, frames=600):
        if not viewer.is_alive():
            break
        sink.write(frame)
        time.sleep(0.01)
    sink.close()
    viewer.join(timeout=5)
    assert not failure and len(seen) == 10
    numbers = [decode_counter(image) for image in seen]
    assert None not in numbers and numbers == list(range(numbers[0], numbers[0] + 10))
    for n, image in zip(numbers, seen, strict=True):
        assert np.abs(image.astype(int) - pattern_image(n, size)).mean() < 8


def test_stream_sinks_are_not_files():
    assert not is_file_sink("udp://127.0.0.1:5000") and not is_file_sink("srt://127.0.0.1:5000")


@pytest.mark.parametrize(
    "url, match",
    [
        ("udp://127.0.0.1", "names no port"),
        ("udp://:0", "port must be a number from 1 to 65535"),
        ("udp://:99999", "port must be a number from 1 to 65535"),
        ("udp://:five", "port must be a number from 1 to 65535"),
        ("udp://:5000/live", r"only udp://HOST:PORT\[\?OPTIONS\]"),
        ("udp://no-such-host.invalid:5000", "cannot find host 'no-such-host.invalid'.*udp://:5000"),
    ],
)
def test_bad_stream_urls_say_how_to_write_them(url, match):
    with pytest.raises(CaptureError, match=match) as info:
        open_sink(url, size=(64, 48), fps=30)
    assert "\n" not in str(info.value)


def test_srt_without_ffmpeg_support_says_so():
    """PyAV's wheels have no SRT: the sink says so in one line. (With SRT and no listener, the error
    says to start one.)"""
    with pytest.raises(CaptureError) as info:
        open_sink(f"srt://127.0.0.1:{_free_port()}?connect_timeout=500", size=(64, 48), fps=30)
    message = str(info.value)
    assert "\n" not in message
    if isinstance(info.value, SinkUnavailable):
        assert "has no srt protocol: use udp://HOST:PORT" in message
    else:
        assert "start the SRT listener first" in message
