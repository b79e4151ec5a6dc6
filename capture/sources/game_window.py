"""`game_window`: the game's window, picked for you, as a `WindowSource`.

In order: a visible window whose title or class matches `--game-titles`, then one that names a known
game (capture/sources/games.py), the largest first; else the largest visible application window that
is not a terminal, a browser, OBS or v2v's own preview. The choice and its reason go to stderr, and
with several games the message says how to pick another (`--input window:TITLE`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from capture.errors import CaptureError
from capture.sinks.preview import WINDOW as PREVIEW_TITLE
from capture.sources.games import GAME_PATTERNS, NOT_GAME_PATTERNS, word_pattern
from capture.sources.window import (
    REAPPEAR_S,
    WindowBackend,
    WindowInfo,
    WindowSource,
    current_windows,
    list_titles,
    open_backend,
)

MIN_SIDE = 64  # pixels: a smaller window is an icon, a tray or a splash, not something to restyle


@dataclass(frozen=True)
class Choice:
    """The window game_window took, why, and what else it could have taken."""

    window: WindowInfo
    reason: str  # e.g. "its title names a known game (Minetest)"
    game: str | None  # the game's name when it was recognised, else None
    others: tuple[WindowInfo, ...]  # other games it did not take


def not_a_game(window: WindowInfo) -> str | None:
    """What the window is when it can never be the game ("a terminal", ...), else None."""
    if PREVIEW_TITLE.casefold() in window.title.casefold():
        return "v2v's preview"
    for what, classes, titles in NOT_GAME_PATTERNS:
        if classes.search(window.wm_class) or titles.search(window.title):
            return what
    return None


def recognise(window: WindowInfo, extra: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(game name, reason) when the title or class names `extra` or a known game, else None."""
    for title in extra:
        pattern = word_pattern((title,))
        if pattern.search(window.title) or pattern.search(window.wm_class):
            return title, f"it matches --game-titles {title!r}"
    for name, pattern in GAME_PATTERNS:
        if pattern.search(window.title):
            return name, f"its title names a known game ({name})"
        if pattern.search(window.wm_class):
            return name, f"its window class {window.wm_class!r} names a known game ({name})"
    return None


def choose(windows: list[WindowInfo], extra: tuple[str, ...] = ()) -> Choice:
    """The game among `windows`; CaptureError listing them when none will do."""
    usable = [w for w in windows if w.visible and min(w.size) >= MIN_SIDE and not_a_game(w) is None]
    games = []
    for window in usable:
        found = recognise(window, extra)
        if found is not None:
            user_named = found[1].startswith("it matches --game-titles")
            games.append((not user_named, -window.area, window, *found))
    if games:
        games.sort(key=lambda g: g[:2])
        _, _, window, name, reason = games[0]
        return Choice(window, reason, name, tuple(g[2] for g in games[1:]))
    apps = sorted((w for w in usable if w.kind == "normal"), key=lambda w: -w.area)
    if apps:
        return Choice(
            apps[0],
            "no known game is open, and it is the largest application window that is not a "
            "terminal, a browser, OBS or the v2v preview",
            None,
            (),
        )
    hidden = [w for w in windows if not w.visible and recognise(w, extra)]
    hint = f" ({hidden[0].label()} is not on the screen: restore it)" if hidden else ""
    raise CaptureError(
        f"game_window found no game or application window to capture{hint}; the windows are "
        f"{list_titles(windows)}: start the game, or name it with --input window:TITLE "
        "or --game-titles NAME"
    )


def _same_game(choice: Choice, extra: tuple[str, ...]) -> Callable[[WindowInfo], bool]:
    """What a replacement window must be when the chosen one closes: the same game, or the same app."""

    def matches(other: WindowInfo) -> bool:
        if choice.game is not None:
            found = recognise(other, extra)
            return found is not None and found[0] == choice.game
        if choice.window.wm_class:
            return other.wm_class == choice.window.wm_class
        return other.title == choice.window.title

    return matches


def _quote(title: str) -> str:
    """`window:TITLE` as a shell word."""
    spec = f"window:{title}"
    return spec if re.fullmatch(r"[\w:.,+-]+", spec) else "'" + spec.replace("'", "'\\''") + "'"


def open_game_window(
    extra_titles: tuple[str, ...] = (),
    *,
    fps: float = 30.0,
    reappear_s: float = REAPPEAR_S,
    backend: Callable[[], WindowBackend] = open_backend,
) -> WindowSource:
    """`game_window`: the window `choose` picks; says which and why on stderr."""
    windows, _ = current_windows(backend)
    choice = choose(windows, extra_titles)
    message = f"game_window: capturing {choice.window.label()}: {choice.reason}"
    if choice.others:
        other = choice.others[0]
        more = f" (and {len(choice.others) - 1} more)" if len(choice.others) > 1 else ""
        message += f"; also open: {other.label()}{more}, to capture it instead pass --input {_quote(other.title)}"
    print(message, file=sys.stderr, flush=True)
    return WindowSource(
        "game_window",
        choice.window,
        _same_game(choice, extra_titles),
        fps=fps,
        reappear_s=reappear_s,
        what="game window",
        open_backend=backend,
    )
