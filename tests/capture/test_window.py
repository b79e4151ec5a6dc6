"""capture/sources/window*.py and game_window.py: finding, following and choosing windows.

The X11 path runs for real: an Xvfb server, a pygame window (only _NET_WM_NAME) and a plain Xlib window
(only WM_NAME) with known content in their own processes, and the real game Minetest. The Windows and
macOS backends run everywhere against fakes of their OS calls.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from capture.errors import CaptureError, SourceUnavailable
from capture.frame import resize
from capture.sources import open_source
from capture.sources import window as window_module
from capture.sources.game_window import choose, not_a_game, open_game_window
from capture.sources.window import WindowInfo, WindowSource, find_window, letterbox, open_window
from tests.capture.helpers import REPO
from tests.capture.window_apps import quadrants

MINETEST = "/usr/games/minetest"


def win(
    handle: int,
    title: str,
    size: tuple[int, int] = (320, 240),
    wm_class: str = "",
    state: str = "visible",
    kind: str = "normal",
    at: tuple[int, int] = (0, 0),
) -> WindowInfo:
    return WindowInfo(handle, title, wm_class, (*at, *size), state, kind)


# ---- choosing, without any display -------------------------------------------------------------
def test_find_window_is_case_insensitive_and_prefers_visible_exact_large():
    windows = [
        win(1, "Minetest 5.6.1 [Main Menu]", (640, 360)),
        win(2, "minetest", (100, 100)),
        win(3, "Minetest (old)", (1920, 1080), state="minimised"),
        win(4, "Notes", (800, 600)),
    ]
    assert [w.handle for w in find_window(windows, "MINETEST")] == [2, 1, 3]
    assert [w.handle for w in find_window(windows, "main menu")] == [1]
    assert find_window(windows, "terraria") == []


def test_game_window_takes_a_known_game_over_larger_windows():
    windows = [
        win(1, "Budget.ods - LibreOffice Calc", (1600, 900), "libreoffice-calc"),
        win(2, "Terraria: Dig Peon, Dig!", (800, 450), "Terraria.bin.x86_64"),
        win(3, "user@host: ~", (1900, 1000), "xterm XTerm"),
    ]
    choice = choose(windows)
    assert choice.window.handle == 2 and choice.game == "Terraria" and "title names a known game" in choice.reason
    by_class = choose([win(1, "Untitled", (400, 300), "Minetest"), windows[0]])
    assert by_class.game == "Minetest" and "window class 'Minetest'" in by_class.reason
    assert choose(windows, ("calc",)).window.handle == 1  # --game-titles comes before the built-in list


def test_game_window_never_takes_terminals_browsers_obs_or_the_preview():
    from capture.sinks.preview import WINDOW

    never = [
        win(1, "Minecraft Wiki - Mozilla Firefox", (1900, 1000), "Navigator firefox"),
        win(2, "vim minetest.conf", (1800, 1000), "gnome-terminal-server Gnome-terminal"),
        win(3, "OBS 29.0.2 - Profile: Untitled - Scenes: Untitled", (1700, 1000), "obs obs"),
        win(4, WINDOW, (1600, 1000), "v2v-preview"),
        win(5, "Minetest", (1500, 1000), "Minetest", state="minimised"),
        win(6, "Top Panel", (1900, 30), "panel", kind="dock"),
    ]
    assert [not_a_game(w) for w in never[:4]] == ["a browser", "a terminal", "OBS", "v2v's preview"]
    app = win(7, "Krita - drawing.kra", (640, 480), "krita")
    choice = choose([*never, app])
    assert choice.window.handle == 7 and choice.game is None and "largest application window" in choice.reason
    with pytest.raises(CaptureError) as info:
        choose(never)
    message = str(info.value)
    assert "\n" not in message and "Mozilla Firefox" in message and "'Minetest' (1500x1000, minimised)" in message
    assert "--input window:TITLE" in message


def test_two_games_say_which_was_taken_and_how_to_pick_the_other(capsys):
    windows = [win(1, "Minetest 5.6.1", (640, 360), "Minetest"), win(2, "Stardew Valley", (1280, 720), "Stardew")]
    source = open_game_window(backend=lambda: FakeBackend(windows))
    err = capsys.readouterr().err
    assert source.window.handle == 2 and "Stardew Valley" in err and "known game" in err
    assert "also open: 'Minetest 5.6.1' (640x360)" in err and "--input 'window:Minetest 5.6.1'" in err
    assert source.describe() == "game window 'Stardew Valley' 1280x720"


def test_letterbox_keeps_the_aspect_and_adds_black_bars():
    image = np.full((100, 400, 3), 200, np.uint8)  # 4:1 into 4:3: scaled to 200x50, 50 rows of black each side
    out = letterbox(image, (200, 150))
    assert out.shape == (150, 200, 3)
    assert out[:50].max() == 0 and out[100:].max() == 0 and out[50:100].min() == 200
    tall = letterbox(np.full((300, 100, 3), 9, np.uint8), (200, 150))  # 1:3 into 4:3: bars left and right
    assert tall[:, :75].max() == 0 and tall[:, 125:].max() == 0 and tall[:, 75:125].min() == 9
    assert letterbox(image, (400, 100)) is image


# ---- the facade against a fake backend and a fake screen ----------------------------------------
class FakeBackend:
    """A desktop whose windows the test changes; `screen` is what the fake grabber sees."""

    def __init__(self, windows: list[WindowInfo]) -> None:
        self.windows = {w.handle: w for w in windows}
        self.where, self.note = "a fake desktop", ""

    def list_windows(self) -> list[WindowInfo]:
        return list(self.windows.values())

    def locate(self, handle: int) -> WindowInfo | None:
        return self.windows.get(handle)

    def close(self) -> None:
        pass


class FakeGrabber:
    def __init__(self, screen: np.ndarray) -> None:
        self.screen = screen

    def grab(self, rect):
        left, top, w, h = rect
        return self.screen[top : top + h, left : left + w].copy()

    def close(self) -> None:
        pass


def test_window_source_follows_moves_and_waits_for_a_closed_window(capsys):
    screen = np.zeros((200, 300, 3), np.uint8)
    screen[10:50, 20:80] = quadrants(60, 40)
    desktop = FakeBackend([win(7, "Game", (60, 40), at=(20, 10)), win(8, "Other", (10, 10), at=(200, 0))])
    source = open_window("game", backend=lambda: desktop, reappear_s=5)
    source._open_grabber = lambda: FakeGrabber(screen)
    frames = iter(source)
    assert np.array_equal(next(frames).image, quadrants(60, 40))
    screen[:] = 0
    screen[100:140, 150:210] = quadrants(60, 40)
    desktop.windows[7] = win(7, "Game", (60, 40), at=(150, 100))  # moved
    assert np.array_equal(next(frames).image, quadrants(60, 40))
    del desktop.windows[7]  # closed; a new window with the same title comes back
    threading.Timer(0.3, lambda: desktop.windows.update({9: win(9, "Game 2", (60, 40), at=(150, 100))})).start()
    assert np.array_equal(next(frames).image, quadrants(60, 40))
    assert "window 'Game' was closed: waiting up to 5 s for it to come back" in capsys.readouterr().err
    source.reappear_s = 0.3
    desktop.windows[9] = win(9, "Game 2", (60, 40), state="minimised")
    assert list(frames) == []  # did not come back: the stream ends
    err = capsys.readouterr().err
    assert "is minimised: waiting" in err and "did not come back within 0.3 s: the stream ends" in err


def test_window_not_found_lists_the_visible_titles():
    desktop = FakeBackend(
        [win(1, "Notes", (300, 200)), win(2, "Calculator", (200, 300)), win(3, "Hidden", state="hidden")]
    )
    with pytest.raises(CaptureError) as info:
        open_window("terraria", backend=lambda: desktop)
    message = str(info.value)
    assert "no window title contains 'terraria' on a fake desktop" in message and "\n" not in message
    assert "'Notes', 'Calculator'" in message and "Hidden" not in message
    with pytest.raises(SourceUnavailable, match="window 'Hidden' is hidden: show it"):
        open_window("hidden", backend=lambda: desktop)
    with pytest.raises(CaptureError, match="write window:TITLE"):
        open_source("window:")


# ---- which backend, and why not ------------------------------------------------------------------
def test_backends_are_chosen_per_os_and_say_why_not_elsewhere():
    assert window_module._backend_module("linux").__name__.endswith("window_x11")
    assert window_module._backend_module("win32").__name__.endswith("window_windows")
    assert window_module._backend_module("darwin").__name__.endswith("window_macos")
    with pytest.raises(SourceUnavailable, match="no backend for sunos5"):
        window_module._backend_module("sunos5")
    from capture.sources import window_macos, window_windows

    if sys.platform != "win32":
        assert "runs only on Windows" in window_windows.why_unavailable()
    if sys.platform != "darwin":
        assert "runs only on macOS" in window_macos.why_unavailable()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 backend's messages")
def test_x11_without_a_display_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(SourceUnavailable, match="only X11/XWayland windows can be captured"):
        open_source("window:Game")
    monkeypatch.delenv("WAYLAND_DISPLAY")
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    with pytest.raises(SourceUnavailable, match="DISPLAY is not set.*Xvfb"):
        open_source("game_window")
    monkeypatch.setenv("DISPLAY", ":4095")  # no server there
    with pytest.raises(SourceUnavailable, match="cannot connect to X display ':4095'") as info:
        open_source("window:Game")
    assert "\n" not in str(info.value)
    assert window_module.probe()[0] is False


def test_windows_backend_against_a_fake_user32(monkeypatch):
    from capture.sources import window_windows

    desktop = {  # hwnd: (title, class, flags, client rect)
        0x10: ("Minetest 5.6.1", "Minetest", {}, (100, 50, 640, 360)),
        0x20: ("", "Shell_TrayWnd", {}, (0, 1040, 1920, 40)),
        0x30: ("Notepad", "Notepad", {"iconic": True}, (0, 0, 0, 0)),
        0x40: ("Settings", "ApplicationFrameWindow", {"cloaked": True}, (0, 0, 800, 600)),
        0x50: ("Tool palette", "Palette", {"tool": True}, (10, 10, 100, 300)),
        0x60: ("Save as", "#32770", {"owned": True}, (300, 300, 400, 300)),
    }

    def flags(hwnd):
        if hwnd not in desktop:
            return {"exists": False}
        base = {"exists": True, "visible": True, "iconic": False, "cloaked": False, "tool": False, "owned": False}
        return {**base, **desktop[hwnd][2]}

    dpi = []
    monkeypatch.setattr(window_windows, "make_dpi_aware", lambda: dpi.append(True))
    monkeypatch.setattr(window_windows, "enum_windows", lambda: list(desktop))
    monkeypatch.setattr(window_windows, "window_text", lambda hwnd: desktop.get(hwnd, ("",))[0])
    monkeypatch.setattr(window_windows, "class_name", lambda hwnd: desktop[hwnd][1])
    monkeypatch.setattr(window_windows, "window_flags", flags)
    monkeypatch.setattr(window_windows, "client_rect", lambda hwnd: desktop[hwnd][3])
    monkeypatch.setattr(window_windows, "window_pid", lambda hwnd: 1000 + hwnd)
    backend = window_windows.Backend()
    assert dpi == [True]  # rectangles in physical pixels, like mss's grabs
    found = {w.handle: w for w in backend.list_windows()}
    assert sorted(found) == [0x10, 0x30, 0x40, 0x50, 0x60]  # the untitled taskbar is not listed
    assert found[0x10] == WindowInfo(0x10, "Minetest 5.6.1", "Minetest", (100, 50, 640, 360), "visible", "normal", 1016)
    assert [(found[h].state, found[h].kind) for h in (0x30, 0x40, 0x50, 0x60)] == [
        ("minimised", "normal"),
        ("hidden", "normal"),
        ("visible", "tool"),
        ("visible", "dialog"),
    ]
    assert choose(list(found.values())).window.handle == 0x10
    assert backend.locate(0x10).rect == (100, 50, 640, 360)
    del desktop[0x10]
    assert backend.locate(0x10) is None


def test_macos_backend_against_a_fake_quartz(monkeypatch):
    from capture.sources import window_macos

    def entry(number, name, owner, bounds, onscreen=True, layer=0):
        return {
            "kCGWindowNumber": number,
            "kCGWindowName": name,
            "kCGWindowOwnerName": owner,
            "kCGWindowOwnerPID": 500 + number,
            "kCGWindowLayer": layer,
            "kCGWindowIsOnscreen": onscreen,
            "kCGWindowBounds": {"X": bounds[0], "Y": bounds[1], "Width": bounds[2], "Height": bounds[3]},
        }

    windows = [
        entry(1, "Minecraft* 1.20.4", "java", (0, 25, 854, 480)),
        entry(2, "Item-0", "Control Centre", (1200, 0, 30, 24), layer=25),
        entry(3, "Untitled", "TextEdit", (100, 100, 600, 400), onscreen=False),
        entry(4, "", "", (0, 0, 10, 10)),
    ]
    monkeypatch.setattr(window_macos, "all_windows", lambda: windows)
    monkeypatch.setattr(window_macos, "one_window", lambda n: [w for w in windows if w["kCGWindowNumber"] == n])
    backend = window_macos.Backend()
    found = {w.handle: w for w in backend.list_windows()}
    assert sorted(found) == [1, 2, 3] and backend.note == ""
    assert found[1] == WindowInfo(1, "Minecraft* 1.20.4", "java", (0, 25, 854, 480), "visible", "normal", 501)
    assert (found[2].kind, found[3].state) == ("popup", "hidden")
    assert choose(list(found.values())).game == "Minecraft"
    assert backend.locate(3).title == "Untitled" and backend.locate(99) is None
    for w in windows:  # without the Screen Recording permission macOS gives no window names
        w["kCGWindowName"] = ""
    titles = [w.title for w in backend.list_windows()]
    assert titles == ["java", "Control Centre", "TextEdit"] and "Screen Recording" in backend.note


# ---- real windows on a real X server -------------------------------------------------------------
@pytest.fixture
def apps():
    """`apps(kind, title, w, h, x, y[, wm_class])` starts tests/capture/window_apps.py and returns
    (process, X window id) once the window is on the screen; every one is killed after the test."""
    started: list[subprocess.Popen] = []

    def start(kind: str, title: str, w: int, h: int, x: int = 0, y: int = 0, wm_class: str | None = None):
        argv = [sys.executable, "-m", "tests.capture.window_apps", kind, title, str(w), str(h), str(x), str(y)]
        proc = subprocess.Popen(
            argv + ([wm_class] if wm_class else []),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
        )
        started.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            proc.kill()
            pytest.fail(f"the {kind} window {title!r} did not appear: {line}{proc.stderr.read()[-2000:]}")
        return proc, int(line)

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def x_window(handle: int):
    """The test's own connection to the window (to move, resize, hide it) and the window."""
    from Xlib import display

    conn = display.Display()
    return conn, conn.create_resource_object("window", handle)


def frame_showing(frames, expected: np.ndarray, tries: int = 100) -> np.ndarray:
    """The first frame equal to `expected` (the window may need a moment to draw); fails after `tries`."""
    for _ in range(tries):
        image = next(frames).image
        if image.shape == expected.shape and np.array_equal(image, expected):
            return image
    pytest.fail(f"no frame showed the expected content; the last had mean {image.mean(axis=(0, 1))}")


@pytest.mark.xvfb
def test_window_title_finds_pygame_and_xlib_windows_with_their_pixels(xvfb, apps):
    from Xlib import Xatom

    xvfb("640x480")
    _, game = apps("pygame", "Crafty Cubes: Überworld", 200, 150, 30, 40)
    _, plain = apps("xlib", "Plain Xlib Window", 240, 160, 300, 250)
    conn, pg = x_window(game)
    names = conn.intern_atom("_NET_WM_NAME")
    assert pg.get_full_property(names, 0) is not None and pg.get_full_property(Xatom.WM_NAME, 0) is None
    xl = conn.create_resource_object("window", plain)
    assert xl.get_full_property(names, 0) is None and xl.get_wm_name() == "Plain Xlib Window"
    for spec, handle, size in (("window:überworld", game, (200, 150)), ("window:PLAIN XLIB", plain, (240, 160))):
        source = open_source(spec, fps=100)
        assert source.window.handle == handle and source.size == size and source.live
        frames = iter(source)
        frame_showing(frames, quadrants(*size))
        frames.close()
    with pytest.raises(CaptureError) as info:
        open_source("window:no such window")
    message = str(info.value)
    assert "the visible windows are 'Plain Xlib Window', 'Crafty Cubes: Überworld'" in message  # largest first
    assert "\n" not in message and "on X display :" in message
    ok, detail = window_module.probe()
    assert ok and "2 visible window(s) with a title on X display" in detail
    conn.close()


@pytest.mark.xvfb
def test_game_window_picks_the_game_over_a_larger_decoy(xvfb, apps, capsys):
    xvfb("800x600")
    game_proc, game = apps("pygame", "Terraria: Dig Peon, Dig!", 200, 150, 10, 10)
    _, decoy = apps("xlib", "Budget.ods - LibreOffice Calc", 400, 300, 300, 200, "libreoffice-calc")
    apps("xlib", "user@host: ~", 500, 350, 250, 100, "XTerm")  # larger still, and never the game
    source = open_source("game_window", fps=100)
    err = capsys.readouterr().err
    assert source.window.handle == game and "Terraria" in err and "known game (Terraria)" in err
    frames = iter(source)
    frame_showing(frames, quadrants(200, 150))
    frames.close()
    game_proc.kill()
    game_proc.wait()
    source = open_source("game_window")  # no game now: the largest window that is not a terminal
    assert source.window.handle == decoy and "largest application window" in capsys.readouterr().err
    source = open_source("game_window", game_titles=("budget",))
    assert source.window.handle == decoy and "--game-titles 'budget'" in capsys.readouterr().err


@pytest.mark.xvfb
@pytest.mark.parametrize("kind", ["pygame", "xlib"])
def test_window_moved_mid_stream_is_still_captured(xvfb, apps, kind):
    xvfb("640x480")
    _, handle = apps(kind, f"Mover {kind}", 160, 120, 20, 20)
    source = open_source(f"window:mover {kind}", fps=100)
    frames = iter(source)
    frame_showing(frames, quadrants(160, 120))
    conn, window = x_window(handle)
    window.configure(x=400, y=300)  # XMoveWindow
    conn.sync()
    frame_showing(frames, quadrants(160, 120))
    assert source.window.handle == handle
    conn.close()
    frames.close()


@pytest.mark.xvfb
def test_resized_window_is_letterboxed_and_a_closed_one_waited_for(xvfb, apps, capsys):
    xvfb("640x480")
    proc, handle = apps("xlib", "Shape Shifter", 160, 120, 20, 20)
    source = open_window("shape shifter", fps=100, reappear_s=5)
    frames = iter(source)
    frame_showing(frames, quadrants(160, 120))
    conn, window = x_window(handle)
    window.configure(width=320)  # twice as wide: the right half is the window's black background
    conn.sync()
    wide = np.zeros((120, 320, 3), np.uint8)
    wide[:, :160] = quadrants(160, 120)
    frame_showing(frames, letterbox(wide, (160, 120)))
    assert np.array_equal(letterbox(wide, (160, 120))[30:90, :80], resize(quadrants(160, 120), (80, 60)))
    window.configure(width=160)
    window.unmap()  # hidden, then shown again
    conn.sync()
    threading.Timer(0.5, lambda: (window.map(), conn.sync())).start()
    frame_showing(frames, quadrants(160, 120))
    assert "window 'Shape Shifter' is hidden: waiting up to 5 s" in capsys.readouterr().err
    proc.kill()  # closed; the same title comes back in a new window elsewhere while the source waits
    proc.wait()
    replacement = []
    later = threading.Timer(0.3, lambda: replacement.append(apps("xlib", "Shape Shifter", 160, 120, 300, 200)))
    later.start()
    frame_showing(frames, quadrants(160, 120))
    later.join()
    assert "was closed: waiting" in capsys.readouterr().err and source.window.handle == replacement[0][1]
    source.reappear_s = 0.5
    replacement[0][0].kill()  # closed for good: the stream ends
    replacement[0][0].wait()
    assert list(frames) == []
    assert "did not come back within 0.5 s: the stream ends" in capsys.readouterr().err
    conn.close()


def _minetest_world(folder) -> list[str]:
    """The recipe of /work/shared/notes/capture-facts.md: a world, a config; the command line."""
    world = folder / "world"
    world.mkdir()
    (world / "world.mt").write_text(
        "gameid = minetest_game\nbackend = sqlite3\ncreative_mode = true\nenable_damage = false\n"
    )
    (world / "map_meta.txt").write_text("mg_name = v7\nseed = 4242\n[end_of_params]\n")
    (folder / "mt.conf").write_text(
        "bind_address = 127.0.0.1\nscreen_w = 640\nscreen_h = 360\nfullscreen = false\n"
        "enable_sound = false\nfps_max = 30\nserver_announce = false\n"
        "video_driver = opengl\n"
    )
    return [
        MINETEST,
        "--config",
        str(folder / "mt.conf"),
        "--go",
        "--world",
        str(world),
        "--gameid",
        "minetest_game",
        "--name",
        "v2v",
        "--logfile",
        str(folder / "mt.log"),
    ]


@pytest.mark.xvfb
def test_game_window_picks_the_real_game_minetest(xvfb, apps, tmp_path, capsys):
    if not os.path.exists(MINETEST):
        pytest.skip(f"{MINETEST} is not installed (apt-get install minetest; .ci/run installs it)")
    xvfb("1280x720")
    apps("xlib", "Notes - Text Editor", 640, 400, 640, 300, "gedit")  # larger than the game, beside it
    game = subprocess.Popen(
        _minetest_world(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    try:
        backend = window_module.open_backend()
        deadline = time.monotonic() + 60
        while not any("minetest" in w.title.lower() and w.visible for w in backend.list_windows()):
            assert game.poll() is None, f"minetest exited: {(tmp_path / 'mt.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the Minetest window did not appear in 60 s"
            time.sleep(0.2)
        backend.close()
        source = open_source("game_window", fps=30)
        err = capsys.readouterr().err
        assert source.window.title.startswith("Minetest") and "known game (Minetest)" in err, err
        assert source.size == (640, 360)
        deadline = time.monotonic() + 60
        frames = iter(source)
        for frame in frames:  # the main menu first, then the world: wait for a frame with real content
            colours = len(np.unique(frame.image.reshape(-1, 3)[::7], axis=0))
            if frame.image.std() > 20 and colours > 200:
                break
            assert time.monotonic() < deadline, "Minetest drew nothing but flat frames in 60 s"
        frames.close()
        assert frame.image.shape == (360, 640, 3)
    finally:
        game.terminate()
        try:
            game.wait(timeout=10)
        except subprocess.TimeoutExpired:
            game.kill()
            game.wait()


def test_window_source_is_a_source():
    source = WindowSource("window:x", win(1, "x", (64, 48)), lambda w: False, open_backend=lambda: FakeBackend([]))
    assert (source.size, source.fps, source.live, source.has_audio, source.frame_count) == (
        (64, 48),
        30.0,
        True,
        False,
        None,
    )
    assert source.describe() == "window 'x' 64x48"
