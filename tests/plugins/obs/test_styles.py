"""plugins/obs/styles.py: the styles file and the prompt from a text source's words."""

import pytest

from capture.errors import CaptureError
from plugins.obs.styles import Style, load_styles, parse_version, prompt_from_text


def test_styles_per_scene(tmp_path):
    path = tmp_path / "styles.toml"
    path.write_text('["Just Chatting"]\nprompt = "watercolour"\nstrength = 0.5\n\n[Gameplay]\nstrength = 1\n')
    assert load_styles(str(path)) == {"Just Chatting": Style("watercolour", 0.5), "Gameplay": Style(None, 1.0)}


@pytest.mark.parametrize(
    "text, match",
    [
        ("[Gameplay\nprompt = 1", "is not valid TOML"),
        ("", "names no scene"),
        ("Gameplay = 3", "scene 'Gameplay' must be a table"),
        ('[Gameplay]\nprompt = "x"\ncolour = 2', "has 'colour': a scene's table takes only prompt and strength"),
        ("[Gameplay]", "scene 'Gameplay' is empty"),
        ("[Gameplay]\nprompt = 3", "prompt must be text in quotes"),
        ("[Gameplay]\nstrength = 0", r"strength must be a number in \(0, 1\], got 0"),
        ("[Gameplay]\nstrength = 1.5", r"strength must be a number in \(0, 1\], got 1.5"),
        ("[Gameplay]\nstrength = true", "strength must be a number"),
    ],
)
def test_bad_styles_files_say_where(tmp_path, text, match):
    path = tmp_path / "styles.toml"
    path.write_text(text)
    with pytest.raises(CaptureError, match=match) as info:
        load_styles(str(path))
    assert str(info.value).startswith(f"--obs-styles {path}") and "\n" not in str(info.value)


def test_a_missing_styles_file(tmp_path):
    with pytest.raises(CaptureError, match="does not exist"):
        load_styles(str(tmp_path / "none.toml"))


def test_prompt_from_text_and_versions():
    assert prompt_from_text("  a castle\n made of   sweets ") == "a castle made of sweets"
    assert prompt_from_text(" \n ") is None
    assert parse_version("5.1.0") == (5, 1, 0) < (5, 4) <= parse_version("5.5.2") and parse_version("x") == (0,)
