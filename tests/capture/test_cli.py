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
    for word in (
        "--input",
        "--output",
        "--max-frames",
        "--overwrite",
        "--prompt",
        "--strength",
        "--model",
        "--size",
        "--steps",
        "--seed",
        "--device",
        "--debug",
        "restyle",
        "animate",
        "generate",
        "bench",
        "doctor",
        "train",
    ):
        assert word in text


def test_docs_usage_mentions_every_option():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for p in [parser, *(commands[c] for c in ("restyle", "animate", "generate", "bench", "doctor"))]:
        for action in p._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in docs, f"docs/usage.md does not describe {p.prog} {flag}"


def test_parse_size():
    assert parse_size("512x320") == (512, 320) and parse_size(" 64 X 48 ") == (64, 48) and parse_size(None) is None


BENCH_KEYS = {
    "fps",
    "first_frame_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "dropped",
    "model_fps",
    "peak_rss_mb",
    "kv_chunk_cost_ratio",
    "stages_ms",
    "sustained_fps",
    "first_frame_latency_ms",
}


def test_bench_json(tiny_model, capsys):
    assert main(["bench", "--model", tiny_model, "--json", "--frames", "40", "--size", "96x64", "--fps", "60"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= BENCH_KEYS, BENCH_KEYS - set(result)
    assert result["size"] == [96, 64] and result["frames_out"] == result["frames_in"] > 0
    assert result["frames_in"] + result["dropped"] <= 40
    assert result["fps"] > 0 and result["model_fps"] > 0 and result["first_frame_s"] > 0
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] <= result["latency_p99_ms"]
    assert result["sustained_fps"] == result["fps"]  # the previous release's name, kept as an alias
    assert {"encode_ms", "denoise_ms", "decode_ms", "capture_ms_per_frame", "sink_ms_per_frame"} <= set(
        result["stages_ms"]
    )
    assert result["peak_rss_mb"] > 50 and result["kv_chunk_cost_ratio"] is None  # too short a run for it


def test_bench_soak_and_compare(tiny_model, capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                tiny_model,
                "--json",
                "--soak",
                "1000",
                "--size",
                "64x64",
                "--fps",
                "400",
                "--compare",
                "--frames",
                "17",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    soak = result["soak"]
    assert len(soak["samples"]) >= 2 and {"rss_growth", "latency_p95_growth"} <= set(soak)
    assert all(s["rss_mb"] > 0 and s["latency_p95_ms"] > 0 for s in soak["samples"])
    assert set(result["compare"]["ms_per_frame"]) == {"kv_cache", "recompute", "per_frame"}
    assert result["compare"]["ratio_to_kv_cache"]["kv_cache"] == 1.0


def test_bench_table(tiny_model, capsys):
    assert main(["bench", "--model", tiny_model, "--frames", "9", "--fps", "100"]) == 0
    out = capsys.readouterr().out
    assert "first frame" in out and "frames/s" in out and "denoise" in out and "latency" in out


def test_bench_times_an_architecture_with_random_weights(capsys, monkeypatch):
    from v2v.models.dit import DiT

    compiled = []
    monkeypatch.setattr(DiT, "compile_blocks", lambda self, backend="inductor": compiled.append(self) or self)
    assert main(["bench", "--model", "random:tiny", "--json", "--frames", "9", "--warmup", "5", "--compile"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "random:tiny" and result["frames_in"] + result["dropped"] == 9
    assert len(compiled) == 1  # --compile compiles the model's DiT
    for argv, match in (
        (
            ["bench", "--model", "random:sd15"],
            "unknown random model 'random:sd15': choose one of random:tiny, random:causvid-1.3b",
        ),
        (["bench", "--model", "random:tiny", "--warmup", "-1"], "--warmup must be at least 0"),
        (["--input", "pattern", "--output", "null", "--model", "random:tiny"], "random weights restyle nothing"),
    ):
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
    for name in (
        "python",
        "torch",
        "device",
        "model",
        "attention",
        "PyAV libx264",
        "screen capture",
        "window capture",
        "camera",
        "preview window",
        "virtual camera",
    ):
        assert f"] {name}" in proc.stdout, name
    assert "Traceback" not in proc.stdout + proc.stderr


def test_train_is_delegated():
    proc = run_v2v("train", "--help")
    assert proc.returncode == 0 and "python -m v2v train" in proc.stdout
