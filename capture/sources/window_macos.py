"""Windows on a macOS desktop through Quartz (`CGWindowListCopyWindowInfo`, pyobjc); mss grabs the pixels.

Bounds are in points, the same unit mss grabs in (at nominal resolution). macOS shows other
applications' window titles only to a program with the Screen Recording permission; without it a
window is known by its application's name. The two functions at the top are the only OS calls; the
tests replace them with a fake desktop.
"""

from __future__ import annotations

import sys

from capture.sources.window import WindowInfo

NORMAL_LAYER = 0  # kCGWindowLayer of application windows (menus, the Dock and overlays are above it)
PERMISSION = (
    "grant this terminal the Screen Recording permission (System Settings > Privacy & Security > "
    "Screen Recording) so that window titles can be read"
)


# ---- the OS calls ----------------------------------------------------------------------------------
def all_windows() -> list[dict]:
    """Quartz's description of every window (on screen or not), front to back, desktop excluded."""
    import Quartz

    options = Quartz.kCGWindowListOptionAll | Quartz.kCGWindowListExcludeDesktopElements
    return list(Quartz.CGWindowListCopyWindowInfo(options, Quartz.kCGNullWindowID) or ())


def one_window(number: int) -> list[dict]:
    """Quartz's description of window `number` (an empty list once it is gone)."""
    import Quartz

    return list(Quartz.CGWindowListCopyWindowInfo(Quartz.kCGWindowListOptionIncludingWindow, number) or ())


# ---- the backend -----------------------------------------------------------------------------------
def why_unavailable() -> str | None:
    """Why this backend cannot work here, or None when it may."""
    if sys.platform != "darwin":
        return f"the macOS window backend runs only on macOS, not on {sys.platform}"
    try:
        import Quartz  # noqa: F401
    except ImportError:
        return "window capture on macOS needs pyobjc's Quartz: pip install 'v2v[macos]'"
    return None


def _info(entry: dict) -> WindowInfo | None:
    """A WindowInfo from one of Quartz's dictionaries; None for windows that are not applications'."""
    owner = str(entry.get("kCGWindowOwnerName") or "")
    title = str(entry.get("kCGWindowName") or "") or owner  # no name without the permission
    if not title:
        return None
    bounds = entry.get("kCGWindowBounds") or {}
    rect = (int(bounds.get("X", 0)), int(bounds.get("Y", 0)), int(bounds.get("Width", 0)), int(bounds.get("Height", 0)))
    layer = int(entry.get("kCGWindowLayer", NORMAL_LAYER))
    state = "visible" if entry.get("kCGWindowIsOnscreen") else "hidden"  # minimised windows are off screen
    pid = entry.get("kCGWindowOwnerPID")
    return WindowInfo(
        int(entry["kCGWindowNumber"]),
        title.strip(),
        owner,
        rect,
        state,
        "normal" if layer == NORMAL_LAYER else "popup",
        int(pid) if pid is not None else None,
    )


class Backend:
    """The windows of this macOS session."""

    def __init__(self) -> None:
        self.where = "this macOS desktop"
        self.note = ""

    def list_windows(self) -> list[WindowInfo]:
        """Every window with a title (or an owning application)."""
        entries = all_windows()
        named = any(entry.get("kCGWindowName") for entry in entries)
        self.note = "" if named or not entries else f"window titles are hidden: {PERMISSION}"
        return [info for info in map(_info, entries) if info is not None]

    def locate(self, handle: int) -> WindowInfo | None:
        """Window `handle` now; None once it has been closed."""
        entries = one_window(handle)
        return _info(entries[0]) if entries else None

    def close(self) -> None:
        """Nothing to release: Quartz needs no connection."""
