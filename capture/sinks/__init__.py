"""Frame sinks (`Sink`: write, close, abort, describe), chosen from a SINK string by `open_sink`, or
from several (`--output` may repeat) by `open_sinks`.

SINK = vcam[:DEVICE] | obs | preview | null | udp://HOST:PORT | srt://HOST:PORT | a video file (.mp4, .m4v,
.mov, .mkv).
Backends are imported lazily; each raises `SinkUnavailable` with a one-line reason when it cannot
work here. Sinks open when they are made (before any frame is processed), so that a missing virtual
camera or an unwritable folder is reported before the model is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol

from capture.errors import CaptureError, SinkUnavailable
from capture.frame import Frame

SINK_FORMS = ("vcam[:DEVICE], obs, preview, null, udp://HOST:PORT, srt://HOST:PORT, or a video file "
              "(.mp4, .m4v, .mov, .mkv)")
OBS_UNAVAILABLE = ("--output obs is not available in this build yet (tracked in the OBS plugin issue): "
                   "use --output vcam, which OBS shows as a Video Capture Device")


class Sink(Protocol):
    """What every sink has: everything the runtime calls on it."""

    name: str  # the SINK it was opened from, for messages
    wants_stop: bool  # the user asked to stop from the sink (Q in the preview window)

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...  # finish normally

    def abort(self) -> None: ...  # stop after an error; a file sink keeps an existing output as it was

    def describe(self) -> str: ...  # a short phrase for the status line, e.g. "preview window"


def is_file_sink(spec: str) -> bool:
    """Whether `spec` names a file rather than a device."""
    return spec.split(":", 1)[0] not in ("vcam", "obs", "preview", "null", "udp", "srt")


def open_sinks(specs: Sequence[str], *, size: tuple[int, int], fps: float, time_base: Fraction | None = None,
               audio_from: str | None = None, overwrite: bool = False, inputs: Sequence[str] = ()) -> Sink:
    """Open every sink of `specs` (`--output` may repeat) with `open_sink`'s options: the sink itself
    for one, a FanOut that writes each frame to all of them for several. When one cannot open, those
    already open are aborted."""
    if not specs:
        raise CaptureError("no output given: pass --output SINK (it may repeat)")
    twice = sorted({s for s in specs if list(specs).count(s) > 1})
    if twice:
        raise CaptureError(f"--output {twice[0]} is given twice: name each output once")
    from capture.sinks.fanout import FanOut

    sinks: list[Sink] = []
    try:
        for spec in specs:
            sinks.append(open_sink(spec, size=size, fps=fps, time_base=time_base, audio_from=audio_from,
                                   overwrite=overwrite, inputs=inputs))
    except BaseException:
        if sinks:
            FanOut(sinks).abort()
        raise
    return sinks[0] if len(sinks) == 1 else FanOut(sinks)


def open_sink(spec: str, *, size: tuple[int, int], fps: float, time_base: Fraction | None = None,
              audio_from: str | None = None, overwrite: bool = False,
              inputs: Sequence[str] = ()) -> Sink:
    """Open the sink that `spec` names for frames of `size` (W, H) at `fps`.

    time_base, audio_from, overwrite and inputs are for files: the source's time base (frames keep
    their pts), a file whose audio is copied, whether an existing file may be replaced, and the
    inputs the output must not overwrite.
    """
    kind, _, tail = spec.partition(":")
    if kind == "null":
        from capture.sinks.null import NullSink

        return NullSink()
    if kind == "preview":
        from capture.sinks.preview import PreviewSink

        return PreviewSink()
    if kind == "vcam":
        from capture.sinks.vcam import VirtualCameraSink

        return VirtualCameraSink(size, fps, device=tail or None)
    if kind == "obs":
        raise SinkUnavailable(OBS_UNAVAILABLE)
    if kind in ("udp", "srt"):
        from capture.sinks.stream import StreamSink

        return StreamSink(spec, size, fps)
    from capture.sinks.file import VIDEO_EXTENSIONS, VideoFileSink

    if not (spec.lower().endswith(VIDEO_EXTENSIONS) or os.path.splitext(spec)[1] or os.path.isdir(spec)):
        raise CaptureError(f"output {spec!r} is neither a sink name nor a video file: use {SINK_FORMS}")
    return VideoFileSink(spec, size, fps, time_base=time_base, audio_from=audio_from,
                         overwrite=overwrite, inputs=inputs)
