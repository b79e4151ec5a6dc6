"""Frame sources: iterables of `Frame`, chosen from a SRC string by `open_source`.

SRC = camera[:N] | screen[:N] | window:TITLE | game_window | pattern[:WxH] | none | a video or image file.
Backends are imported lazily, so that a machine without a camera or a display can still use files,
and each one raises `SourceUnavailable` with a one-line reason when it cannot work here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Protocol

from capture.errors import CaptureError
from capture.frame import Frame

SOURCE_FORMS = "camera[:N], screen[:N], window:TITLE, game_window, pattern[:WxH], none, or a video or image file"


class Source(Protocol):
    """What every source has: everything the runtime calls on it."""

    name: str  # the SRC it was opened from, for messages
    size: tuple[int, int]  # (W, H) of its frames, fixed for the whole stream
    fps: float  # nominal frames per second
    live: bool  # True: frames come in real time and may be dropped; False: every frame matters
    has_audio: bool  # a file with an audio track (sinks can copy it)

    @property
    def frame_count(self) -> int | None: ...  # how many frames it will give (an estimate for files), None: endless

    def __iter__(self) -> Iterator[Frame]: ...  # ends when the source does (a file's end, a window closed)

    def close(self) -> None: ...  # release it; an iteration in another thread ends soon after

    def describe(self) -> str: ...  # a short phrase for the status line, e.g. "window 'Minetest' 640x360"


def _index(spec: str, kind: str) -> int:
    _, _, tail = spec.partition(":")
    if not tail:
        return 0 if kind == "camera" else 1
    if not tail.isdigit():
        raise CaptureError(f"bad input {spec!r}: write {kind}:N with N a number, e.g. {kind}:0")
    return int(tail)


def _pattern_size(spec: str) -> tuple[int, int]:
    _, _, tail = spec.partition(":")
    if not tail:
        return (640, 360)
    match = re.fullmatch(r"(\d+)x(\d+)", tail)
    if not match or min(int(match[1]), int(match[2])) < 16:
        raise CaptureError(f"bad input {spec!r}: write pattern:WxH with W and H at least 16, e.g. pattern:640x360")
    return int(match[1]), int(match[2])


def open_source(
    spec: str,
    *,
    realtime: bool = False,
    frames: int | None = None,
    fps: float = 30.0,
    game_titles: tuple[str, ...] = (),
    camera_size: tuple[int, int] | None = None,
    camera_fps: float | None = None,
    size: tuple[int, int] | None = None,
) -> Source:
    """Open the source that `spec` names.

    realtime: files, images, the pattern and none sleep to play at their frame rate (for live sinks);
    frames: how many frames an image, the pattern or none gives (None: endless);
    fps: the rate of an image, the pattern, none, the screen or a window;
    game_titles: more titles that `game_window` takes for games (`--game-titles`);
    camera_size (W, H) and camera_fps: the mode to ask a camera for (`--camera-size`, `--camera-fps`;
    None: the driver's choice);
    size (W, H): the frames of `none` (blank frames for text to video: the model's working size).
    """
    kind = spec.split(":", 1)[0]
    if spec == "none":
        from capture.sources.none import NoneSource

        if size is None:
            raise ValueError("open_source('none') needs size=(W, H): the working size of the generated frames")
        return NoneSource(size, fps=fps, frames=frames, realtime=realtime)
    if kind == "pattern":
        from capture.sources.pattern import PatternSource

        return PatternSource(_pattern_size(spec), fps=fps, frames=frames, realtime=realtime)
    if kind == "camera":
        from capture.sources.camera import CameraSource

        return CameraSource(_index(spec, "camera"), size=camera_size, fps=camera_fps)
    if kind == "screen":
        from capture.sources.screen import ScreenSource

        return ScreenSource(_index(spec, "screen"), fps=fps)
    if kind == "window" and ":" in spec:
        from capture.sources.window import open_window

        return open_window(spec.partition(":")[2], fps=fps)
    if spec == "game_window":
        from capture.sources.game_window import open_game_window

        return open_game_window(game_titles, fps=fps)
    from capture.sources.file import IMAGE_EXTENSIONS, ImageSource, VideoFileSource

    if not os.path.exists(spec) and not os.path.splitext(spec)[1]:
        raise CaptureError(f"input {spec!r} is neither a file nor a source name: use {SOURCE_FORMS}")
    if spec.lower().endswith(IMAGE_EXTENSIONS):
        return ImageSource(spec, frames=frames, fps=fps, realtime=realtime)
    return VideoFileSource(spec, realtime=realtime)
