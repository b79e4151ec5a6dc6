"""The command line's working paths: help, bench (v2v/bench.py) and doctor."""

import json

import pytest

from capture.cli import build_parser, main, parse_size
from tests.capture.helpers import run_v2v


def test_help_lists_every_form(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--input", "--output", "--max-frames", "--overwrite", "--prompt", "--strength", "--model",
                 "--size", "--steps", "--seed", "--device", "--debug", "restyle", "bench", "doctor", "train"):
        assert word in text


def test_docs_usage_mentions_every_option():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for p in [parser, *(commands[c] for c in ("restyle", "bench", "doctor"))]:
        for action in p._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in docs, f"docs/usage.md does not describe {p.prog} {flag}"


def test_parse_size():
    assert parse_size("512x320") == (512, 320) and parse_size(" 64 X 48 ") == (64, 48) and parse_size(None) is None


def test_bench_json(tiny_model, capsys):
    assert main(["bench", "--model", tiny_model, "--json", "--frames", "13", "--size", "96x64"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["size"] == [96, 64] and result["frames"] == 13 and result["chunks"] == 4  # 1 + 4 + 4 + 4
    assert result["first_frame_latency_ms"] > 0 and result["sustained_fps"] > 0
    assert {"encode_ms", "denoise_ms", "decode_ms", "total_ms"} <= set(result["stages_ms"])


def test_bench_table(tiny_model, capsys):
    assert main(["bench", "--model", tiny_model, "--frames", "5"]) == 0
    out = capsys.readouterr().out
    assert "first-frame latency" in out and "frames/s" in out and "denoise" in out


def test_doctor_reports_each_part(tiny_model):
    proc = run_v2v("doctor", "--model", tiny_model)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("python", "torch", "device", "model", "attention", "PyAV libx264", "screen capture",
                 "window capture", "camera", "preview window", "virtual camera"):
        assert f"] {name}" in proc.stdout, name
    assert "Traceback" not in proc.stdout + proc.stderr


def test_train_is_delegated():
    proc = run_v2v("train", "--help")
    assert proc.returncode == 0 and "python -m v2v train" in proc.stdout
