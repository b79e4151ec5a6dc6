"""Windows on an X11 display (a desktop, XWayland or Xvfb) through python-xlib.

The window tree is walked from the root: without a window manager applications are the root's
children; a reparenting window manager puts each one inside a frame, so the walk goes down until it
meets a window with a title. A title is `_NET_WM_NAME` (UTF-8; SDL and pygame set only this one) or
else `WM_NAME` (plain Xlib programs often set only that). Positions are the window's contents in root
coordinates (`TranslateCoords`), so a window manager's decorations are not captured.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from capture.errors import SourceUnavailable
from capture.sources.window import WindowInfo

if TYPE_CHECKING:  # python-xlib ships no type information: these name the objects for the reader
    from Xlib.protocol.request import GetWindowAttributes
    from Xlib.xobject.drawable import Window

WINDOW_TYPES = {  # _NET_WM_WINDOW_TYPE_* -> WindowInfo.kind
    "NORMAL": "normal",
    "DESKTOP": "desktop",
    "DOCK": "dock",
    "DIALOG": "dialog",
    "TOOLBAR": "tool",
    "MENU": "tool",
    "UTILITY": "tool",
    "SPLASH": "tool",
    "NOTIFICATION": "popup",
    "TOOLTIP": "popup",
    "DROPDOWN_MENU": "popup",
    "POPUP_MENU": "popup",
    "COMBO": "popup",
    "DND": "popup",
}
ICONIC_STATE = 3  # ICCCM WM_STATE value of a minimised window
ATOMS = (
    "_NET_WM_NAME",
    "UTF8_STRING",
    "_NET_WM_STATE",
    "_NET_WM_STATE_HIDDEN",
    "_NET_WM_WINDOW_TYPE",
    "_NET_WM_PID",
    *(f"_NET_WM_WINDOW_TYPE_{name}" for name in WINDOW_TYPES),
)


def wayland_note() -> str:
    """A limitation to name on a Wayland session (empty elsewhere)."""
    if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return (
            "this is a Wayland session: only X11/XWayland windows can be captured (start the game "
            "under XWayland, e.g. SDL_VIDEODRIVER=x11, or log in to an X11 session)"
        )
    return ""


def why_unavailable() -> str | None:
    """Why X11 window capture cannot work here (without connecting), or None when it may."""
    if not os.environ.get("DISPLAY"):
        if wayland_note():
            return (
                "window capture needs X11 but this Wayland session has no DISPLAY (no XWayland): only "
                "X11/XWayland windows can be captured; enable XWayland and set DISPLAY, or log in to an "
                "X11 session"
            )
        return (
            "window capture needs an X display but DISPLAY is not set: run it in a desktop session, "
            "or under Xvfb (`Xvfb :99 & DISPLAY=:99 ...`)"
        )
    try:
        import Xlib  # noqa: F401
    except ImportError:
        return "window capture on Linux needs python-xlib: pip install python-xlib"
    return None


class Backend:
    """A connection to the X display in DISPLAY."""

    def __init__(self, display_name: str | None = None) -> None:
        from Xlib import display, error

        self._error = error
        name = display_name or os.environ.get("DISPLAY", "")
        try:
            self._display = display.Display(display_name)
        except error.DisplayError as e:
            raise SourceUnavailable(
                f"window capture cannot connect to X display {name!r} ({e}): check that "
                "the X server is running and DISPLAY (and XAUTHORITY) point to it"
            ) from e
        self.where = f"X display {name}"
        self.note = wayland_note()
        self._root = self._display.screen().root
        self._atoms = {atom: self._display.intern_atom(atom) for atom in ATOMS}
        self._types = {self._atoms[f"_NET_WM_WINDOW_TYPE_{name}"]: kind for name, kind in WINDOW_TYPES.items()}

    # ---- properties --------------------------------------------------------------------------------
    def _text(self, window: Window, atom: int) -> str:
        from Xlib import X

        prop = window.get_full_property(atom, X.AnyPropertyType)
        if prop is None or prop.format != 8 or not prop.value:
            return ""
        raw = prop.value if isinstance(prop.value, bytes) else bytes(prop.value)
        encoding = "utf-8" if prop.property_type == self._atoms["UTF8_STRING"] else "latin-1"
        return raw.decode(encoding, errors="replace").strip("\0").strip()

    def _title(self, window: Window) -> str:
        from Xlib import Xatom

        return self._text(window, self._atoms["_NET_WM_NAME"]) or self._text(window, Xatom.WM_NAME)

    def _cardinals(self, window: Window, atom: int) -> list[int]:
        from Xlib import X

        prop = window.get_full_property(atom, X.AnyPropertyType)
        return list(prop.value) if prop is not None and prop.format == 32 else []

    def _state(self, window: Window, attributes: GetWindowAttributes) -> str:
        from Xlib import X

        if attributes.map_state == X.IsViewable:
            hidden = self._atoms["_NET_WM_STATE_HIDDEN"] in self._cardinals(window, self._atoms["_NET_WM_STATE"])
            return "minimised" if hidden else "visible"
        wm_state = window.get_wm_state()
        return "minimised" if wm_state is not None and wm_state.state == ICONIC_STATE else "hidden"

    def _kind(self, window: Window, attributes: GetWindowAttributes) -> str:
        if attributes.override_redirect:
            return "popup"
        types = self._cardinals(window, self._atoms["_NET_WM_WINDOW_TYPE"])
        return self._types.get(types[0], "normal") if types else "normal"

    def _info(self, window: Window, title: str) -> WindowInfo:
        attributes = window.get_attributes()
        geometry = window.get_geometry()
        origin = self._root.translate_coords(window, 0, 0)  # the window's (0, 0) in root coordinates
        wm_class = " ".join(window.get_wm_class() or ())
        pid = self._cardinals(window, self._atoms["_NET_WM_PID"])
        return WindowInfo(
            window.id,
            title,
            wm_class,
            (origin.x, origin.y, geometry.width, geometry.height),
            self._state(window, attributes),
            self._kind(window, attributes),
            pid[0] if pid else None,
        )

    # ---- the backend -------------------------------------------------------------------------------
    def list_windows(self) -> list[WindowInfo]:
        """Every window with a title, top-most in the tree (not the titled windows inside them)."""
        found: list[WindowInfo] = []
        pending = [self._root]
        try:
            while pending:
                parent = pending.pop()
                try:
                    children = parent.query_tree().children
                except self._error.BadWindow:  # destroyed while the tree was walked: nothing to list
                    continue
                for child in children:
                    try:
                        title = self._title(child)
                        if title:
                            found.append(self._info(child, title))
                        else:
                            pending.append(child)
                    except (self._error.BadWindow, self._error.BadDrawable):  # destroyed meanwhile: skip it
                        continue
        except self._error.ConnectionClosedError as e:
            raise SourceUnavailable(f"the X server on {self.where} closed the connection ({e})") from e
        return found

    def locate(self, handle: int) -> WindowInfo | None:
        """Window `handle` now; None once it has been destroyed."""
        window = self._display.create_resource_object("window", handle)
        try:
            return self._info(window, self._title(window))
        except (self._error.BadWindow, self._error.BadDrawable):  # destroyed: the caller waits for another
            return None
        except self._error.ConnectionClosedError as e:
            raise SourceUnavailable(f"the X server on {self.where} closed the connection ({e})") from e

    def close(self) -> None:
        """Close the connection (nothing to do when the server has closed it already)."""
        try:
            self._display.close()
        except self._error.ConnectionClosedError:  # the X server went away first: nothing left to release
            return
