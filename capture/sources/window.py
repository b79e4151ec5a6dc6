"""One application window as a live source, over a per-OS backend chosen lazily.

`open_window("minetest")` captures the first window whose title contains "minetest" (any case). The
backend lists windows and says where one is now (X11 through python-xlib, Windows through user32 via
ctypes, macOS through Quartz); the pixels of the window's rectangle come from mss on every OS. The
capture follows the window when it moves; the output keeps the size the window had when it was
opened, and a window that is resized later is letterboxed into it. When the window is closed,
minimised or hidden, the stream says so once on stderr and waits up to `REAPPEAR_S` seconds for it
(or a window that matches the same way) to come back before it ends.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

from capture.errors import CaptureError, SourceUnavailable
from capture.frame import Frame, Ticker, resize

REAPPEAR_S = 5.0  # seconds a closed or minimised window has to come back before the stream ends
POLL_S = 0.1  # seconds between looks for a window that went away
MAX_LISTED = 12  # window titles an error message lists before "and N more"

# sys.platform prefix -> the module of its backend (imported only on that OS)
BACKEND_MODULES = {
    "linux": "capture.sources.window_x11",
    "win32": "capture.sources.window_windows",
    "darwin": "capture.sources.window_macos",
}


@dataclass(frozen=True)
class WindowInfo:
    """One top-level window as a backend sees it."""

    handle: int  # the X window id, the HWND or the CGWindowID
    title: str
    wm_class: str  # X11's WM_CLASS (instance and class), the Win32 class name, or the owning macOS app
    rect: tuple[int, int, int, int]  # (left, top, width, height) of its contents, in screen pixels
    state: str = "visible"  # "visible", "minimised" or "hidden" (unmapped, cloaked, off screen)
    kind: str = "normal"  # "normal" for an application window; "desktop", "dock", "dialog", "tool", "popup"
    pid: int | None = None  # the process that owns it, when the OS says

    @property
    def visible(self) -> bool:
        """Shown on the screen, with a non-empty rectangle."""
        return self.state == "visible" and self.rect[2] > 0 and self.rect[3] > 0

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) in pixels."""
        return self.rect[2], self.rect[3]

    @property
    def area(self) -> int:
        """Pixels it covers."""
        return self.rect[2] * self.rect[3]

    def label(self) -> str:
        """`'Title' (640x360)` for messages, with the state when it is not visible."""
        state = "" if self.visible else f", {self.state}"
        return f"{self.title!r} ({self.rect[2]}x{self.rect[3]}{state})"


class WindowBackend(Protocol):
    """What the facade needs from an OS: list windows, find one again, say where it runs."""

    where: str  # e.g. "X display :0", for messages
    note: str  # a limitation to add to "not found" messages (e.g. Wayland), or ""

    def list_windows(self) -> list[WindowInfo]: ...  # every titled top-level window, visible or not

    def locate(self, handle: int) -> WindowInfo | None: ...  # where it is now; None once it is gone

    def close(self) -> None: ...


def _backend_module(platform: str | None = None) -> ModuleType:
    platform = platform or sys.platform
    for prefix, module in BACKEND_MODULES.items():
        if platform.startswith(prefix):
            return importlib.import_module(module)
    raise SourceUnavailable(f"window capture has no backend for {platform}: use --input screen or a file")


def why_unavailable() -> str | None:
    """Why window capture cannot work here (without connecting to anything), or None when it may."""
    try:
        module = _backend_module()
    except SourceUnavailable as e:
        return str(e)
    return module.why_unavailable()


def open_backend() -> WindowBackend:
    """This OS's backend, connected; SourceUnavailable with the reason and the fix when it cannot work."""
    module = _backend_module()
    reason = module.why_unavailable()
    if reason:
        raise SourceUnavailable(reason)
    return module.Backend()


def probe() -> tuple[bool, str]:
    """(works, detail) for `doctor`: how many windows this OS's backend sees, or why it cannot."""
    try:
        backend = open_backend()
    except SourceUnavailable as e:
        return False, str(e)
    try:
        windows = backend.list_windows()
    finally:
        backend.close()
    visible = sum(w.visible for w in windows)
    note = f"; {backend.note}" if backend.note else ""
    return True, f"{visible} visible window(s) with a title on {backend.where}{note}"


def list_titles(windows: list[WindowInfo]) -> str:
    """The titles of the visible windows (else of all), quoted, for a one-line message."""
    shown = [w for w in windows if w.visible] or windows
    titles = [repr(w.title) for w in sorted(shown, key=lambda w: -w.area)]
    more = f" and {len(titles) - MAX_LISTED} more" if len(titles) > MAX_LISTED else ""
    return ", ".join(titles[:MAX_LISTED]) + more if titles else "none"


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB [h, w, 3] -> [H, W, 3] for `size` (W, H): scaled to fit, aspect kept, black bars."""
    w_out, h_out = size
    h, w = image.shape[:2]
    if (w, h) == (w_out, h_out):
        return image
    scale = min(w_out / w, h_out / h)
    w_fit, h_fit = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.zeros((h_out, w_out, 3), np.uint8)
    x, y = (w_out - w_fit) // 2, (h_out - h_fit) // 2
    out[y : y + h_fit, x : x + w_fit] = resize(image, (w_fit, h_fit))
    return out


class ScreenGrabber:
    """A screen rectangle's pixels through mss, clipped to the screen (what lies off it is black)."""

    def __init__(self) -> None:
        import mss

        factory = getattr(mss, "MSS", None) or mss.mss  # mss 10.2 renamed the factory
        self._mss = factory()
        whole = self._mss.monitors[0]  # every monitor together
        self._screen = (whole["left"], whole["top"], whole["width"], whole["height"])

    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        """(left, top, width, height) -> uint8 RGB [height, width, 3]."""
        left, top, w, h = rect
        sl, st, sw, sh = self._screen
        x0, y0, x1, y1 = max(left, sl), max(top, st), min(left + w, sl + sw), min(top + h, st + sh)
        if (x0, y0, x1, y1) == (left, top, left + w, top + h):
            shot = np.asarray(self._mss.grab({"left": left, "top": top, "width": w, "height": h}))  # [h, w, 4] BGRA
            return np.ascontiguousarray(shot[..., 2::-1])
        out = np.zeros((h, w, 3), np.uint8)
        if x1 > x0 and y1 > y0:
            shot = np.asarray(self._mss.grab({"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}))
            out[y0 - top : y1 - top, x0 - left : x1 - left] = shot[..., 2::-1]
        return out

    def close(self) -> None:
        """Release the connection to the display."""
        self._mss.close()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class WindowSource:
    """A window followed frame by frame at up to `fps`; live, endless until the window goes away for good.

    window: the window as found when opening; matches: what a replacement must satisfy when the window
    is closed (a new window with the same title, say); open_backend / open_grabber: made in the thread
    that iterates (X11 connections belong to the thread that opens them).
    """

    def __init__(
        self,
        name: str,
        window: WindowInfo,
        matches: Callable[[WindowInfo], bool],
        *,
        fps: float = 30.0,
        reappear_s: float = REAPPEAR_S,
        what: str = "window",
        open_backend: Callable[[], WindowBackend] = open_backend,
        open_grabber: Callable[[], ScreenGrabber] = ScreenGrabber,
    ) -> None:
        self.name = name
        self.window = window
        self.size = window.size
        self.fps = fps
        self.live = True
        self.has_audio = False
        self.frame_count: int | None = None  # endless
        self.reappear_s = reappear_s
        self._what = what
        self._matches = matches
        self._open_backend = open_backend
        self._open_grabber = open_grabber
        self._closed = False

    def describe(self) -> str:
        """E.g. "window 'Minetest 5.6.1' 640x360"."""
        return f"{self._what} {self.window.title!r} {self.size[0]}x{self.size[1]}"

    def _come_back(self, backend: WindowBackend, last: WindowInfo | None) -> WindowInfo | None:
        """Wait for the window (or one that matches) to be visible again; None after `reappear_s`."""
        gone = "was closed" if last is None else f"is {last.state}"
        _say(f"{self._what} {self.window.title!r} {gone}: waiting up to {self.reappear_s:g} s for it to come back")
        deadline = time.monotonic() + self.reappear_s
        while not self._closed and time.monotonic() < deadline:
            time.sleep(POLL_S)
            again = backend.locate(self.window.handle)
            if again is not None and again.visible:
                return again
            for other in backend.list_windows():
                if other.visible and self._matches(other):
                    return other
        if not self._closed:
            _say(f"{self._what} {self.window.title!r} did not come back within {self.reappear_s:g} s: the stream ends")
        return None

    def __iter__(self) -> Iterator[Frame]:
        backend = self._open_backend()
        grabber = self._open_grabber()
        try:
            index = 0
            ticker = Ticker(self.fps)
            while not self._closed:
                ticker.wait()
                now = backend.locate(self.window.handle)
                if now is None or not now.visible:
                    now = self._come_back(backend, now)
                    if now is None:
                        return
                    if now.handle != self.window.handle:
                        self.window = now
                image = grabber.grab(now.rect)  # [h, w, 3] at the window's current size
                yield Frame(letterbox(image, self.size), time.monotonic(), index)
                index += 1
        finally:
            grabber.close()
            backend.close()

    def close(self) -> None:
        """Stop after the current grab."""
        self._closed = True


def current_windows(backend: Callable[[], WindowBackend] = open_backend) -> tuple[list[WindowInfo], WindowBackend]:
    """Every titled top-level window now, from a connection opened and closed for the purpose; the
    closed connection comes back too, for its `where` and `note` in messages."""
    connection = backend()
    try:
        return connection.list_windows(), connection
    finally:
        connection.close()


def find_window(windows: list[WindowInfo], title: str) -> list[WindowInfo]:
    """The windows whose title contains `title` (any case): visible first, exact titles first, then larger."""
    wanted = title.casefold()
    found = [w for w in windows if wanted in w.title.casefold()]
    return sorted(found, key=lambda w: (not w.visible, w.title.casefold() != wanted, -w.area))


def open_window(
    title: str,
    *,
    fps: float = 30.0,
    reappear_s: float = REAPPEAR_S,
    backend: Callable[[], WindowBackend] = open_backend,
) -> WindowSource:
    """`window:TITLE`: the window whose title contains `title` (any case)."""
    if not title.strip():
        raise CaptureError(
            "bad input 'window:': write window:TITLE with part of the window's title, e.g. window:Minetest"
        )
    windows, connection = current_windows(backend)
    found = find_window(windows, title)
    if not found:
        note = f" ({connection.note})" if connection.note else ""
        raise CaptureError(
            f"no window title contains {title!r} on {connection.where}{note}; the visible "
            f"windows are {list_titles(windows)}: use --input window:PART-OF-ONE-OF-THEM"
        )
    window = found[0]
    if not window.visible:
        raise SourceUnavailable(
            f"window {window.title!r} is {window.state}: show it on the screen (restore it) and start again"
        )
    if len(found) > 1:
        others = ", ".join(w.label() for w in found[1:4])
        _say(
            f"window: {len(found)} windows match {title!r}; capturing {window.label()}, not {others} "
            "(give more of the title to pick another)"
        )

    def same_title(other: WindowInfo) -> bool:
        return title.casefold() in other.title.casefold()

    return WindowSource(f"window:{title}", window, same_title, fps=fps, reappear_s=reappear_s, open_backend=backend)
