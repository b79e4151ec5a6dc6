"""What `game_window` knows: the games it looks for, and the applications that are never the game.

Each entry is matched, case-insensitively, as a whole word or phrase in a window's title or its
class (X11 WM_CLASS, the Win32 class name, the macOS application). Extend the games per run with
`--game-titles A,B`.
"""

from __future__ import annotations

import re

# (the name shown in messages, the words that name it in a title or a window class)
GAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Minecraft", ("minecraft", "minecraft launcher")),
    ("Minetest", ("minetest",)),
    ("Luanti", ("luanti",)),
    ("Roblox", ("roblox", "robloxplayerbeta")),
    ("Terraria", ("terraria",)),
    ("Stardew Valley", ("stardew valley", "stardewvalley")),
    ("Doom", ("doom", "gzdoom", "chocolate doom", "prboom", "dsda-doom", "crispy doom")),
    ("ViZDoom", ("vizdoom",)),
    ("Factorio", ("factorio",)),
    ("Valheim", ("valheim",)),
    ("Fortnite", ("fortnite", "fortniteclient")),
    ("Counter-Strike", ("counter-strike", "cs2", "csgo")),
    ("Team Fortress 2", ("team fortress 2",)),
    ("Half-Life", ("half-life",)),
    ("Dota 2", ("dota 2", "dota2")),
    ("League of Legends", ("league of legends",)),
    ("Valorant", ("valorant",)),
    ("Overwatch", ("overwatch",)),
    ("Rocket League", ("rocket league",)),
    ("Among Us", ("among us",)),
    ("Celeste", ("celeste",)),
    ("Hollow Knight", ("hollow knight",)),
    ("Don't Starve", ("don't starve", "dontstarve")),
    ("RimWorld", ("rimworld",)),
    ("Satisfactory", ("satisfactory",)),
    ("Grand Theft Auto", ("grand theft auto", "gta5", "gta v")),
    ("Elden Ring", ("elden ring", "eldenring")),
    ("The Witcher 3", ("the witcher 3", "witcher3")),
    ("Cyberpunk 2077", ("cyberpunk 2077", "cyberpunk2077")),
    ("SuperTuxKart", ("supertuxkart",)),
    ("0 A.D.", ("0 a.d.", "pyrogenesis")),
    ("Xonotic", ("xonotic",)),
    ("OpenTTD", ("openttd",)),
    ("Veloren", ("veloren",)),
    ("Mindustry", ("mindustry",)),
    ("Crafter", ("crafter",)),
)

# what is never the game, whatever its size: (what it is, words in its window class, words in its title).
# Class words catch the application whatever its title says ("Minecraft Wiki - Mozilla Firefox" is a
# browser); title words are kept to names no game title would hold.
NOT_GAMES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "a terminal",
        (
            "xterm",
            "uxterm",
            "gnome-terminal",
            "gnome-terminal-server",
            "konsole",
            "alacritty",
            "kitty",
            "tilix",
            "terminator",
            "urxvt",
            "rxvt",
            "st-256color",
            "wezterm",
            "foot",
            "xfce4-terminal",
            "lxterminal",
            "mate-terminal",
            "qterminal",
            "terminology",
            "guake",
            "yakuake",
            "ghostty",
            "ptyxis",
            "consolewindowclass",
            "cascadia_hosting_window_class",
            "terminal",
            "iterm2",
        ),
        ("xterm", "konsole", "gnome-terminal", "windows terminal", "command prompt", "windows powershell"),
    ),
    (
        "a browser",
        (
            "firefox",
            "navigator",
            "mozillawindowclass",
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google chrome",
            "chrome_widgetwin_1",
            "brave-browser",
            "brave browser",
            "opera",
            "vivaldi",
            "microsoft-edge",
            "microsoft edge",
            "msedge",
            "safari",
            "epiphany",
            "librewolf",
            "waterfox",
            "falkon",
            "qutebrowser",
        ),
        (
            "mozilla firefox",
            "firefox",
            "google chrome",
            "chromium",
            "microsoft edge",
            "brave",
            "vivaldi",
            "safari",
            "librewolf",
        ),
    ),
    ("OBS", ("obs", "obs studio", "com.obsproject.studio", "obs64"), ("obs", "obs studio")),
)


def word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """A case-insensitive regex that finds any of `words` as a whole word or phrase."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


GAME_PATTERNS = tuple((name, word_pattern(words)) for name, words in GAMES)
NOT_GAME_PATTERNS = tuple((what, word_pattern(classes), word_pattern(titles)) for what, classes, titles in NOT_GAMES)
