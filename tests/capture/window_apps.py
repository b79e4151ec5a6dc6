"""Real windows with known content for the window-capture tests, each run in its own process:

    python -m tests.capture.window_apps pygame TITLE W H X Y        an SDL window (only _NET_WM_NAME)
    python -m tests.capture.window_apps xlib TITLE W H X Y [CLASS]  a plain Xlib window (only WM_NAME)

Both show `quadrants(W, H)`: red top-left, green top-right, blue bottom-left, yellow bottom-right.
Each prints its X window id on stdout once it is on the screen, then runs until it is killed.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))  # TL, TR, BL, BR


def quadrants(w: int, h: int) -> np.ndarray:
    """The content both windows show: uint8 RGB [H, W, 3]."""
    image = np.empty((h, w, 3), np.uint8)
    image[: h // 2, : w // 2], image[: h // 2, w // 2 :] = COLOURS[0], COLOURS[1]
    image[h // 2 :, : w // 2], image[h // 2 :, w // 2 :] = COLOURS[2], COLOURS[3]
    return image


def run_pygame(title: str, w: int, h: int, x: int, y: int) -> None:
    os.environ.update(SDL_VIDEODRIVER="x11", SDL_VIDEO_WINDOW_POS=f"{x},{y}", PYGAME_HIDE_SUPPORT_PROMPT="1")
    import pygame

    pygame.display.init()
    screen = pygame.display.set_mode((w, h))
    pygame.display.set_caption(title)
    picture = pygame.surfarray.make_surface(quadrants(w, h).transpose(1, 0, 2))  # surfarray is [W, H, 3]
    # SDL 2.28 also writes WM_NAME; older SDL builds (and many games) set only _NET_WM_NAME: remove
    # WM_NAME so that this window is found by _NET_WM_NAME alone
    from Xlib import Xatom, display

    conn = display.Display()
    conn.create_resource_object("window", pygame.display.get_wm_info()["window"]).delete_property(Xatom.WM_NAME)
    conn.sync()
    announced = False
    while True:
        pygame.event.pump()
        screen.blit(picture, (0, 0))
        pygame.display.flip()
        if not announced:
            print(pygame.display.get_wm_info()["window"], flush=True)
            announced = True
        time.sleep(0.02)


def run_xlib(title: str, w: int, h: int, x: int, y: int, wm_class: str | None = None) -> None:
    from Xlib import X, display

    conn = display.Display()
    screen = conn.screen()

    def pixel(rgb: tuple[int, int, int]) -> int:
        return screen.default_colormap.alloc_color(*(c * 257 for c in rgb)).pixel

    window = screen.root.create_window(
        x, y, w, h, 0, screen.root_depth, background_pixel=pixel((0, 0, 0)), event_mask=X.StructureNotifyMask
    )
    window.set_wm_name(title)  # WM_NAME only, no _NET_WM_NAME
    if wm_class:
        window.set_wm_class(wm_class.lower(), wm_class)
    # the server paints each quarter itself (child windows with a background), so no redraw loop is needed
    for i, (cx, cy) in enumerate(((0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2))):
        cw, ch = (w // 2 if cx == 0 else w - w // 2), (h // 2 if cy == 0 else h - h // 2)
        window.create_window(cx, cy, cw, ch, 0, screen.root_depth, background_pixel=pixel(COLOURS[i])).map()
    window.map()
    conn.sync()
    while conn.next_event().type != X.MapNotify:
        continue
    print(window.id, flush=True)
    while True:
        conn.next_event()


if __name__ == "__main__":
    kind, title, *numbers = sys.argv[1:]
    w, h, x, y = (int(n) for n in numbers[:4])
    if kind == "pygame":
        run_pygame(title, w, h, x, y)
    else:
        run_xlib(title, w, h, x, y, numbers[4] if len(numbers) > 4 else None)
