"""Styles that follow OBS: a prompt and strength per scene (`--obs-styles FILE`), and the prompt from a text
source (`--obs-prompt-source NAME`).

The styles file is TOML, one table per scene name:

    ["Just Chatting"]
    prompt = "watercolour painting, soft light"
    strength = 0.5

    [Gameplay]
    prompt = "realistic sunny hills"

A scene without a table leaves the style as it is; a table may give the prompt, the strength or both.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from capture.errors import CaptureError
from plugins.obs.client import ObsClient, ObsError, ObsRequestError
from plugins.obs.setup import NOT_FOUND

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib

KEYS = ("prompt", "strength")
TEXT_KINDS = ("text_ft2_source", "text_gdiplus")  # FreeType 2 (Linux, macOS), GDI+ (Windows); versioned _v2 ...
FIRST_EVENT_VERSION = (5, 4)  # obs-websocket sends InputSettingsChanged from 5.4 on


@dataclass(frozen=True)
class Style:
    """A scene's style: None leaves that part as it is."""

    prompt: str | None = None
    strength: float | None = None  # in (0, 1]


def _style(path: str, scene: str, table: Any) -> Style:
    where = f"--obs-styles {path}: scene {scene!r}"
    if not isinstance(table, dict):
        raise CaptureError(
            f'{where} must be a table, e.g. [{scene!r}] then prompt = "..." and strength = 0.6 on the lines below'
        )
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise CaptureError(f"{where} has {unknown[0]!r}: a scene's table takes only prompt and strength")
    if not table:
        raise CaptureError(f"{where} is empty: give it a prompt, a strength or both")
    prompt, strength = table.get("prompt"), table.get("strength")
    if prompt is not None and not isinstance(prompt, str):
        raise CaptureError(f"{where}: prompt must be text in quotes, got {prompt!r}")
    if strength is not None:
        if (
            isinstance(strength, bool)
            or not isinstance(strength, (int, float))
            or not (math.isfinite(strength) and 0 < strength <= 1)
        ):
            raise CaptureError(f"{where}: strength must be a number in (0, 1], got {strength!r}")
        strength = float(strength)
    return Style(prompt, strength)


def load_styles(path: str) -> dict[str, Style]:
    """Scene name -> Style from the TOML file `path`; a bad file is a CaptureError that says where."""
    try:
        with open(path, "rb") as file:
            tables = tomllib.load(file)
    except FileNotFoundError:
        raise CaptureError(
            f"--obs-styles {path} does not exist: give a TOML file with one table per scene, see docs/obs.md"
        ) from None
    except OSError as e:
        raise CaptureError(f"--obs-styles {path} cannot be read ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise CaptureError(
            f"--obs-styles {path} is not valid TOML ({e}): write one table per scene, e.g. "
            '[Gameplay] then prompt = "realistic sunny hills"'
        ) from None
    if not tables:
        raise CaptureError(
            f"--obs-styles {path} names no scene: add a table per scene, e.g. [Gameplay] then "
            'prompt = "realistic sunny hills"'
        )
    return {scene: _style(path, scene, table) for scene, table in tables.items()}


def parse_version(text: str) -> tuple[int, ...]:
    """'5.1.0' -> (5, 1, 0); anything unreadable is (0,)."""
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts) or (0,)


def has_settings_events(client: ObsClient) -> bool:
    """Whether this obs-websocket sends InputSettingsChanged (5.4+); older ones are polled."""
    return parse_version(client.websocket_version) >= FIRST_EVENT_VERSION


def read_prompt_source(client: ObsClient, name: str) -> str:
    """The text of OBS text source `name` ('' when empty). An unknown source or one that is not a text
    source is an ObsError that says what to do."""
    try:
        answer = client.call("GetInputSettings", inputName=name)
    except ObsRequestError as e:
        if e.code != NOT_FOUND:
            raise
        inputs = [str(i.get("inputName")) for i in client.call("GetInputList").get("inputs", [])]
        raise ObsError(
            f"--obs-prompt-source {name!r}: OBS has no source of that name (inputs: "
            f"{', '.join(repr(n) for n in inputs) or 'none'}): add a Text source named {name!r}, "
            "or give the name of one"
        ) from None
    kind = str(answer.get("inputKind", ""))
    if not kind.startswith(TEXT_KINDS):
        raise ObsError(
            f"--obs-prompt-source {name!r} is a {kind} source, not a text source: give the name of "
            "a Text (FreeType 2) or Text (GDI+) source"
        )
    return str(answer.get("inputSettings", {}).get("text", ""))


def prompt_from_text(text: str) -> str | None:
    """The prompt a text source's text gives: its words on one line; None for an empty text (the
    prompt then stays as it is)."""
    words = " ".join(text.split())
    return words or None
