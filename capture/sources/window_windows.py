"""Windows on a Windows desktop through user32 (EnumWindows) via ctypes; mss grabs the pixels.

The rectangle is the window's client area in screen pixels (no title bar, no borders). The process
is made per-monitor DPI aware first, as mss does, so that rectangles and grabs are both in physical
pixels. A window covered by another is captured with what covers it (mss grabs the screen).
The functions at the top are the only OS calls; the tests replace them with a fake desktop.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from capture.sources.window import WindowInfo

if TYPE_CHECKING:
    import ctypes

GWL_EXSTYLE = -20
WS_EX_TOOLWINDOW = 0x00000080
GW_OWNER = 4
DWMWA_CLOAKED = 14  # a window hidden by the shell (another virtual desktop, a suspended UWP app)


# ---- the OS calls ----------------------------------------------------------------------------------
def _user32() -> ctypes.CDLL:
    import ctypes

    return ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]  # Windows-only name


def make_dpi_aware() -> None:
    """Per-monitor DPI awareness (Windows 8.1+), else system awareness (Vista+)."""
    import ctypes

    try:
        ctypes.WinDLL("shcore").SetProcessDpiAwareness(2)  # type: ignore[attr-defined]  # Windows-only; 2: PROCESS_PER_MONITOR_DPI_AWARE
    except (AttributeError, OSError):  # before Windows 8.1 there is no shcore: system awareness instead
        _user32().SetProcessDPIAware()


def enum_windows() -> list[int]:
    """The HWNDs of every top-level window, top of the z-order first."""
    import ctypes
    from ctypes import wintypes

    handles: list[int] = []
    callback_type = ctypes.WINFUNCTYPE(  # type: ignore[attr-defined]  # Windows-only name
        wintypes.BOOL, wintypes.HWND, wintypes.LPARAM
    )

    def collect(hwnd: int | None, _lparam: int) -> bool:
        handles.append(int(hwnd or 0))
        return True

    _user32().EnumWindows(callback_type(collect), 0)
    return handles


def window_text(hwnd: int) -> str:
    import ctypes

    user32 = _user32()
    length = user32.GetWindowTextLengthW(hwnd)
    buffer = ctypes.create_unicode_buffer(length + 1)
    user32.GetWindowTextW(hwnd, buffer, length + 1)
    return buffer.value


def class_name(hwnd: int) -> str:
    import ctypes

    buffer = ctypes.create_unicode_buffer(256)
    _user32().GetClassNameW(hwnd, buffer, 256)
    return buffer.value


def window_flags(hwnd: int) -> dict[str, bool]:
    """exists, visible (WS_VISIBLE), iconic (minimised), cloaked, tool (a tool window), owned (a dialog)."""
    import ctypes
    from ctypes import wintypes

    user32 = _user32()
    if not user32.IsWindow(hwnd):
        return {"exists": False}
    cloaked = wintypes.DWORD(0)
    try:
        ctypes.WinDLL("dwmapi").DwmGetWindowAttribute(  # type: ignore[attr-defined]  # Windows-only name
            hwnd, DWMWA_CLOAKED, ctypes.byref(cloaked), ctypes.sizeof(cloaked)
        )
    except OSError:  # no desktop window manager (Windows 7 with DWM off): nothing is cloaked
        cloaked.value = 0
    return {
        "exists": True,
        "visible": bool(user32.IsWindowVisible(hwnd)),
        "iconic": bool(user32.IsIconic(hwnd)),
        "cloaked": bool(cloaked.value),
        "tool": bool(user32.GetWindowLongW(hwnd, GWL_EXSTYLE) & WS_EX_TOOLWINDOW),
        "owned": bool(user32.GetWindow(hwnd, GW_OWNER)),
    }


def client_rect(hwnd: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the client area in screen pixels."""
    import ctypes
    from ctypes import wintypes

    user32 = _user32()
    rect, origin = wintypes.RECT(), wintypes.POINT(0, 0)
    user32.GetClientRect(hwnd, ctypes.byref(rect))
    user32.ClientToScreen(hwnd, ctypes.byref(origin))
    return origin.x, origin.y, rect.right - rect.left, rect.bottom - rect.top


def window_pid(hwnd: int) -> int:
    import ctypes
    from ctypes import wintypes

    pid = wintypes.DWORD(0)
    _user32().GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
    return int(pid.value)


# ---- the backend -----------------------------------------------------------------------------------
def why_unavailable() -> str | None:
    """Why this backend cannot work here, or None on Windows."""
    if sys.platform != "win32":
        return f"the Windows window backend runs only on Windows, not on {sys.platform}"
    return None


class Backend:
    """The windows of this Windows session."""

    def __init__(self) -> None:
        make_dpi_aware()
        self.where = "this Windows desktop"
        self.note = ""

    def _info(self, hwnd: int, title: str) -> WindowInfo | None:
        flags = window_flags(hwnd)
        if not flags["exists"]:
            return None
        if flags["iconic"]:
            state = "minimised"
        elif not flags["visible"] or flags["cloaked"]:
            state = "hidden"
        else:
            state = "visible"
        kind = "tool" if flags["tool"] else "dialog" if flags["owned"] else "normal"
        return WindowInfo(hwnd, title, class_name(hwnd), client_rect(hwnd), state, kind, window_pid(hwnd))

    def list_windows(self) -> list[WindowInfo]:
        """Every top-level window with a title."""
        found = []
        for hwnd in enum_windows():
            title = window_text(hwnd).strip()
            info = self._info(hwnd, title) if title else None
            if info is not None:
                found.append(info)
        return found

    def locate(self, handle: int) -> WindowInfo | None:
        """Window `handle` now; None once it has been destroyed."""
        return self._info(handle, window_text(handle).strip())

    def close(self) -> None:
        """Nothing to release: user32 needs no connection."""
