"""A video file as a sink: H.264 (yuv420p) through PyAV, the source's timestamps kept, and the audio
packets of a source file copied unchanged.

Nothing is lost by a failed run: frames go to a hidden temporary file beside the output
(`.NAME.partial.EXT`), which replaces the output only in `close()`. `close()` also runs after Ctrl-C,
so the output then plays with the frames done so far; `abort()` deletes the temporary file and leaves
any existing output as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction

import av
import numpy as np

from capture.errors import CaptureError
from capture.frame import Frame, resize

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv")
DEFAULT_TIME_BASE = Fraction(1, 90000)  # whole ticks per frame at 24, 25, 30, 50 and 60 fps


def check_output_path(path: str, overwrite: bool = False, inputs: Sequence[str] = ()) -> None:
    """Raise CaptureError unless a video can be written at `path` (checked before any work)."""
    if os.path.isdir(path):
        raise CaptureError(f"output {path} is a folder: give a file name such as {path.rstrip('/')}.mp4")
    if not path.lower().endswith(VIDEO_EXTENSIONS):
        raise CaptureError(f"cannot write {path}: the output must end in {', '.join(VIDEO_EXTENSIONS)}")
    for source in inputs:
        if os.path.exists(source) and os.path.exists(path) and os.path.samefile(source, path):
            raise CaptureError(f"output {path} is the input file: choose another output name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CaptureError(f"output folder {folder} does not exist: create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CaptureError(f"output folder {folder} is not writable: check its permissions or choose another folder")
    if os.path.exists(path) and not overwrite:
        raise CaptureError(f"output {path} already exists: pass --overwrite to replace it, or choose another name")


def partial_path(path: str) -> str:
    """The temporary file `path` is written to until it is complete."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.partial{ext}")


def _audio_packets(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.Packet]:
    for packet in container.demux(stream):
        if packet.dts is not None:  # the demuxer ends with an empty flush packet
            yield packet


class VideoFileSink:
    """Writes frames of `size` (W, H) to `path` at `fps`.

    Frames with a `pts` keep it (in `time_base`, the source's); frames without one get
    `pts = (t - t_first) / time_base`. Odd sizes are padded by one edge pixel (yuv420p needs even
    sizes). `audio_from`: a file whose first audio track is copied packet by packet, interleaved with
    the video as it is written.
    """

    def __init__(
        self,
        path: str,
        size: tuple[int, int],
        fps: float | Fraction,
        time_base: Fraction | None = None,
        audio_from: str | None = None,
        overwrite: bool = False,
        inputs: Sequence[str] = (),
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        check_output_path(path, overwrite, inputs)
        self.path = path
        self.name = path
        self.size = size
        self.fps = float(fps)
        self.time_base = Fraction(time_base) if time_base else DEFAULT_TIME_BASE
        self.count = 0
        self.wants_stop = False
        self._temp = partial_path(path)
        self._last_pts: int | None = None
        self._last_t = 0.0
        self._t0: float | None = None
        try:
            self._out: av.container.OutputContainer | None = av.open(self._temp, "w")
        except av.FFmpegError as e:
            raise CaptureError(f"cannot write {path} ({' '.join(str(e).split())}): check the folder") from e
        self._audio_in: av.container.InputContainer | None = None
        self._audio: Iterator[av.Packet] = iter(())
        self._pending: av.Packet | None = None
        try:
            self._add_audio(self._out, audio_from)
            self._video = self._add_video(self._out, size, fps, crf, preset)
        except BaseException:
            self.abort()
            raise

    def _add_audio(self, out: av.container.OutputContainer, audio_from: str | None) -> None:
        if not audio_from:
            return
        self._audio_in = av.open(audio_from)
        if not self._audio_in.streams.audio:
            return
        template = self._audio_in.streams.audio[0]
        if template.codec_context.name not in out.supported_codecs:
            raise CaptureError(
                f"the audio of {audio_from} ({template.codec_context.name}) cannot go into a "
                f"{os.path.splitext(self.path)[1]} file: write a .mkv instead"
            )
        self._audio_out = out.add_stream_from_template(template)
        self._audio = _audio_packets(self._audio_in, template)

    def _add_video(
        self, out: av.container.OutputContainer, size: tuple[int, int], fps: float | Fraction, crf: int, preset: str
    ) -> av.VideoStream:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size[0] + size[0] % 2, size[1] + size[1] % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.options = {"crf": str(crf), "preset": preset}
        return stream

    def _mux_audio_until(self, out: av.container.OutputContainer, seconds: float | None) -> None:
        """Copy audio packets that start before `seconds` (None: all that are left)."""
        while True:
            packet = self._pending or next(self._audio, None)
            self._pending = None
            if packet is None:
                return
            stamp = packet.pts if packet.pts is not None else packet.dts
            assert stamp is not None, "_audio_packets yields only packets with a dts"
            start = float(stamp * packet.time_base)
            if seconds is not None and start >= seconds:
                self._pending = packet
                return
            packet.stream = self._audio_out
            out.mux(packet)

    def write(self, frame: Frame) -> None:
        """Encode one frame (resized to the sink's size when it differs)."""
        if self._out is None:
            raise CaptureError(f"{self.name} is closed")
        image = resize(frame.image, self.size)
        if image.shape[0] % 2 or image.shape[1] % 2:
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        if self._t0 is None:
            self._t0 = frame.t
        pts = frame.pts if frame.pts is not None else round((frame.t - self._t0) / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the muxer needs strictly increasing timestamps
        self._last_pts = pts
        self._last_t = float(pts * self.time_base)
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = self.time_base
        self._mux_audio_until(self._out, self._last_t)
        for packet in self._video.encode(video_frame):
            self._out.mux(packet)
        self.count += 1

    def close(self, all_audio: bool = True) -> None:
        """Finish the file and move it to `path`. `all_audio=False` (an interrupted run) copies the
        audio only up to the end of the last frame written. With no frame written there is nothing
        to play: the temporary file is dropped and `path` is left as it was."""
        if self._out is None:
            return
        if self.count == 0:
            self.abort()
            return
        try:
            for packet in self._video.encode(None):
                self._out.mux(packet)
            self._mux_audio_until(self._out, None if all_audio else self._last_t + 1.0 / self.fps)
            self._out.close()
            self._out = None
            os.replace(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._close_audio_input()

    def abort(self) -> None:
        """Drop the temporary file; an existing output stays as it was."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self._close_audio_input()
        if os.path.exists(self._temp):
            os.remove(self._temp)

    def describe(self) -> str:
        """E.g. "file out.mp4 640x360"."""
        return f"file {os.path.basename(self.path)} {self.size[0]}x{self.size[1]}"

    def _close_audio_input(self) -> None:
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
