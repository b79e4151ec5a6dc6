"""A network stream as a sink: H.264 in MPEG-TS through PyAV, sent over UDP (or SRT where PyAV's
FFmpeg has it), tuned for latency (x264 ultrafast + zerolatency, one keyframe a second, no B-frames),
so that ffplay, VLC or an OBS Media Source shows it.

`udp://HOST:PORT` sends datagrams of 1316 bytes (7 TS packets, what fits an Ethernet MTU) to HOST.
`udp://:PORT` sends to this machine (127.0.0.1); another address is used only when the URL names it.
"""

from __future__ import annotations

import socket
import sys
from fractions import Fraction
from urllib.parse import urlsplit, urlunsplit

import av
import numpy as np

from capture.errors import CaptureError, SinkUnavailable
from capture.frame import Frame, resize
from capture.net import is_loopback

STREAM_SCHEMES = ("udp", "srt")
DEFAULT_HOST = "127.0.0.1"
PACKET_SIZE = 1316  # bytes per datagram: 7 MPEG-TS packets of 188 bytes
TIME_BASE = Fraction(1, 90000)  # MPEG-TS's clock


def parse_stream_url(url: str) -> tuple[str, str, int, str]:
    """`udp://HOST:PORT[?OPTIONS]` or `srt://...` -> (scheme, host, port, query). A missing host is
    127.0.0.1; a bad URL is a CaptureError that says how to write it."""
    example = "udp://127.0.0.1:5000 (or udp://:5000 for this machine)"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in STREAM_SCHEMES or not url.lower().startswith(f"{scheme}://"):
        raise CaptureError(f"output {url!r} is not a stream URL: write {example}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise CaptureError(f"output {url}: the port must be a number from 1 to 65535, e.g. {example}")
    if port is None:
        raise CaptureError(f"output {url} names no port: add one from 1 to 65535, e.g. {example}")
    if parts.path not in ("", "/") or parts.fragment or parts.username:
        raise CaptureError(f"output {url}: a stream URL is only {scheme}://HOST:PORT[?OPTIONS], e.g. {example}")
    host = parts.hostname or DEFAULT_HOST
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise CaptureError(
            f"output {url}: cannot find host {host!r} ({e.strerror}): check the address, or "
            f"write {scheme}://:{port} to send to this machine"
        ) from None
    return scheme, host, port, parts.query


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _how_to_watch(scheme: str, host: str, port: int) -> str:
    """One line on where the stream goes and how to show it."""
    where = _netloc(host, port)
    if scheme == "srt":
        return (
            f"streaming H.264 MPEG-TS as an SRT caller to srt://{where}: start the listener first, e.g. "
            f"`ffplay 'srt://{where}?mode=listener'` or an OBS Media Source with input "
            f"srt://{where}?mode=listener and input format mpegts"
        )
    if is_loopback(host):
        on, seen_at = "", f"udp://{where}"
    else:  # the receiving machine listens on its own port
        on, seen_at = f" on {host}", f"udp://0.0.0.0:{port}"
    return (
        f"streaming H.264 MPEG-TS to udp://{where}: watch{on} with `ffplay -fflags nobuffer {seen_at}`, "
        f"VLC (Open Network Stream udp://@{seen_at[6:]}) or an OBS Media Source "
        f"(Local File off, input {seen_at}, input format mpegts)"
    )


class StreamSink:
    """Sends frames of `size` (W, H) at `fps` to `url` (udp://HOST:PORT or srt://HOST:PORT).

    Frames of another size are resized to `size`; odd sizes are padded by one edge pixel (yuv420p
    needs even sizes). Timestamps come from the frames' `t`, so the stream keeps the source's pace.
    `crf`: x264's quality (lower is better and bigger).
    """

    def __init__(self, url: str, size: tuple[int, int], fps: float, crf: int = 23, announce: bool = True) -> None:
        scheme, host, port, query = parse_stream_url(url)
        if scheme == "udp" and "pkt_size=" not in query:
            query = "&".join(q for q in (query, f"pkt_size={PACKET_SIZE}") if q)
        self.name = urlunsplit((scheme, _netloc(host, port), "", "", ""))
        self.address = urlunsplit((scheme, _netloc(host, port), "", query, ""))
        self.size = size
        self.fps = float(fps)
        self.count = 0
        self.wants_stop = False
        self._t0: float | None = None
        self._last_pts = -1
        self._out: av.container.OutputContainer | None = av.open(
            self.address, "w", format="mpegts", container_options={"flush_packets": "1"}
        )
        try:
            self._video = self._add_video(self._out, crf)
            self._out.start_encoding()  # opens the connection now: errors come before the model loads
        except av.error.ProtocolNotFoundError:
            self.abort()
            raise SinkUnavailable(
                f"this PyAV's FFmpeg has no {scheme} protocol: use udp://HOST:PORT, or "
                f"install a PyAV built with {scheme} support"
            ) from None
        except av.FFmpegError as e:
            self.abort()
            hint = "start the SRT listener first" if scheme == "srt" else "check the address and the network"
            raise CaptureError(f"cannot open {self.name} ({' '.join(str(e).split())}): {hint}") from None
        if announce:
            print(_how_to_watch(scheme, host, port), file=sys.stderr)

    def _add_video(self, out: av.container.OutputContainer, crf: int) -> av.VideoStream:
        w, h = self.size
        stream = out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.gop_size = max(1, round(self.fps))  # a viewer that joins waits at most 1 s
        stream.codec_context.max_b_frames = 0
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(crf)}
        return stream

    def write(self, frame: Frame) -> None:
        """Encode one frame and send its packets."""
        if self._out is None:
            raise CaptureError(f"{self.name} is closed")
        image = resize(frame.image, self.size)
        if image.shape[0] % 2 or image.shape[1] % 2:
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        if self._t0 is None:
            self._t0 = frame.t
        pts = max(round((frame.t - self._t0) / TIME_BASE), self._last_pts + 1)  # strictly increasing
        self._last_pts = pts
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = TIME_BASE
        try:
            for packet in self._video.encode(video_frame):
                self._out.mux(packet)
        except av.FFmpegError as e:
            raise CaptureError(
                f"sending to {self.name} failed ({' '.join(str(e).split())}): check the address and the network"
            ) from None
        self.count += 1

    def close(self) -> None:
        """Send what the encoder still holds and end the stream."""
        if self._out is None:
            return
        try:
            for packet in self._video.encode(None):
                self._out.mux(packet)
        finally:
            self.abort()

    def abort(self) -> None:
        """End the stream without sending what the encoder holds."""
        if self._out is not None:
            out, self._out = self._out, None
            out.close()

    def describe(self) -> str:
        """A short phrase for the status line."""
        return f"{self.name} (H.264 MPEG-TS {self.size[0]}x{self.size[1]})"
