"""Frame sinks (`Sink`: write, close, abort, describe), chosen from a SINK string by `open_sink`, or
from several (`--output` may repeat) by `open_sinks`.

SINK = vcam[:DEVICE] | obs | preview | null | udp://HOST:PORT | srt://HOST:PORT | a video file (.mp4, .m4v,
.mov, .mkv).
Backends are imported lazily; each raises `SinkUnavailable` with a one-line reason when it cannot
work here. Sinks open when they are made (before any frame is processed), so that a missing virtual
camera or an unwritable folder is reported before the model is loaded.

Plugins add sinks by name with `register_sink` (plugins/obs registers `obs`): capture never imports
a plugin, the entry point (`python -m v2v`) loads them. A sink that also steers the run (OBS: the
scene picks the prompt) is `Steers`: the runtime hands it the run's steering and status when it starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from capture.errors import CaptureError, SinkUnavailable
from capture.frame import Frame

if TYPE_CHECKING:
    from capture.control import Steering

SINK_FORMS = (
    "vcam[:DEVICE], obs, preview, null, udp://HOST:PORT, srt://HOST:PORT, or a video file (.mp4, .m4v, .mov, .mkv)"
)
OBS_UNAVAILABLE = (
    "--output obs needs the OBS plugin (plugins/obs), which was not loaded: run v2v as "
    "`python -m v2v` (or the `v2v` command) from an install that has the plugins package, or use "
    "--output vcam, which OBS shows as a Video Capture Device"
)
# a plugin's sink factory: factory(spec, size=(W, H), fps=F, options=the parsed command line or None) -> Sink
SinkFactory = Callable[..., "Sink"]
_REGISTERED: dict[str, SinkFactory] = {}


class Sink(Protocol):
    """What every sink has: everything the runtime calls on it."""

    name: str  # the SINK it was opened from, for messages

    @property
    def wants_stop(self) -> bool: ...  # the user asked to stop from the sink (Q in the preview window)

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...  # finish normally

    def abort(self) -> None: ...  # stop after an error; a file sink keeps an existing output as it was

    def describe(self) -> str: ...  # a short phrase for the status line, e.g. "preview window"


@runtime_checkable
class Steers(Protocol):
    """A sink that also steers the run: `steer` is called once when the run starts, with the steering
    the engine follows, a function giving the run's status (GET /status's body) and one that prints a
    line without breaking the status line. It must not block."""

    def steer(self, steering: Steering, status: Callable[[], dict], say: Callable[[str], None]) -> None: ...


def register_sink(kind: str, factory: SinkFactory) -> None:
    """Let `--output KIND[:...]` open sinks made by `factory` (for plugins; a later call replaces it)."""
    _REGISTERED[kind] = factory


def is_file_sink(spec: str) -> bool:
    """Whether `spec` names a file rather than a device."""
    kind = spec.split(":", 1)[0]
    return kind not in ("vcam", "obs", "preview", "null", "udp", "srt") and kind not in _REGISTERED


def open_sinks(
    specs: Sequence[str],
    *,
    size: tuple[int, int],
    fps: float,
    time_base: Fraction | None = None,
    audio_from: str | None = None,
    overwrite: bool = False,
    inputs: Sequence[str] = (),
    options: Any = None,
) -> Sink:
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
            sinks.append(
                open_sink(
                    spec,
                    size=size,
                    fps=fps,
                    time_base=time_base,
                    audio_from=audio_from,
                    overwrite=overwrite,
                    inputs=inputs,
                    options=options,
                )
            )
    except BaseException:
        if sinks:
            FanOut(sinks).abort()
        raise
    return sinks[0] if len(sinks) == 1 else FanOut(sinks)


def open_sink(
    spec: str,
    *,
    size: tuple[int, int],
    fps: float,
    time_base: Fraction | None = None,
    audio_from: str | None = None,
    overwrite: bool = False,
    inputs: Sequence[str] = (),
    options: Any = None,
) -> Sink:
    """Open the sink that `spec` names for frames of `size` (W, H) at `fps`.

    time_base, audio_from, overwrite and inputs are for files: the source's time base (frames keep
    their pts), a file whose audio is copied, whether an existing file may be replaced, and the
    inputs the output must not overwrite. `options` (the parsed command line) goes to registered sinks.
    """
    kind, _, tail = spec.partition(":")
    if kind in _REGISTERED:
        return _REGISTERED[kind](spec, size=size, fps=fps, options=options)
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
    return VideoFileSink(
        spec, size, fps, time_base=time_base, audio_from=audio_from, overwrite=overwrite, inputs=inputs
    )
