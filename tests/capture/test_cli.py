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


def test_bench_times_an_architecture_with_random_weights(capsys, monkeypatch):
    from v2v.models.dit import DiT

    compiled = []
    monkeypatch.setattr(DiT, "compile_blocks", lambda self, backend="inductor": compiled.append(self) or self)
    assert main(["bench", "--model", "random:tiny", "--json", "--frames", "9", "--warmup", "5", "--compile"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "random:tiny" and result["frames"] == 9 and result["chunks"] == 3
    assert len(compiled) == 1  # --compile compiles the model's DiT
    for argv, match in ((["bench", "--model", "random:sd15"], "unknown random model 'random:sd15': choose one of "
                                                             "random:tiny, random:causvid-1.3b"),
                        (["bench", "--model", "random:tiny", "--warmup", "-1"], "--warmup must be at least 0"),
                        (["--input", "pattern", "--output", "null", "--model", "random:tiny"],
                         "random weights restyle nothing")):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and match in err and "\n" not in err, err


def test_bench_warmup_leaves_the_timed_stream_alone():
    from v2v.bench import run_bench
    from v2v.models.bundle import random_model

    bundle = random_model("random:tiny")
    cold, warm = (run_bench(bundle, frames=9, warmup=w) for w in (0, 9))
    assert (cold.frames, cold.chunks) == (warm.frames, warm.chunks) == (9, 3)
    with pytest.raises(ValueError, match="warmup"):
        run_bench(bundle, frames=9, warmup=-1)


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
