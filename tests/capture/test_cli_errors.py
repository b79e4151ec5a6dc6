"""Every bad input to the command line ends in one line `error: ...` on stderr and exit status 1
(2 for usage errors), with no traceback unless --debug, and nothing already written is lost."""

import glob
import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from capture.cli import main
from capture.sinks.file import partial_path
from tests.capture.helpers import make_video, run_v2v


def one_line_error(rc: int, err: str, match: str, status: int = 1) -> None:
    lines = err.strip().splitlines()
    assert rc == status, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err


def cli(capsys, *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().err


@pytest.fixture
def clip(tmp_path) -> str:
    return make_video(tmp_path / "clip.mp4", frames=6, size=(64, 48), fps=24, audio=True)


# ---- inputs ----------------------------------------------------------------------------------------
def _bad_inputs(tmp_path) -> dict[str, str]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("hello\n" * 100)
    whole = make_video(tmp_path / "whole.mp4", frames=12)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(Path(whole).read_bytes()[:700])
    sound = tmp_path / "sound.wav"
    import av
    import numpy as np

    with av.open(str(sound), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return {
        "missing": (str(tmp_path / "nope.mp4"), "does not exist"),
        "empty": (str(empty), "is empty"),
        "not a video": (str(text), "not a video"),
        "truncated": (str(truncated), "not a video|no decodable|damaged"),
        "audio only": (str(sound), "no video stream"),
    }


def test_restyle_bad_inputs(tmp_path, tiny_model, capsys):
    for name, (path, match) in _bad_inputs(tmp_path).items():
        rc, err = cli(capsys, "restyle", path, str(tmp_path / "out.mp4"), "--model", tiny_model)
        one_line_error(rc, err, match)
        assert not os.path.exists(tmp_path / "out.mp4"), name


def test_live_bad_inputs(tmp_path, tiny_model, capsys):
    for path, match in _bad_inputs(tmp_path).values():
        rc, err = cli(capsys, "--input", path, "--output", "null", "--model", tiny_model)
        one_line_error(rc, err, match)


# ---- outputs -------------------------------------------------------------------------------------
def test_existing_output_is_refused_and_kept(tmp_path, clip, tiny_model, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    one_line_error(*cli(capsys, "restyle", clip, str(out), "--model", tiny_model), "already exists: pass --overwrite")
    one_line_error(*cli(capsys, "--input", clip, "--output", str(out), "--model", tiny_model), "already exists")
    assert out.read_bytes() == b"keep me"


def test_a_failure_after_the_checks_keeps_the_existing_output(tmp_path, clip, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    bad_model = tmp_path / "model"
    bad_model.mkdir()
    (bad_model / "config.json").write_text("{not json")
    for argv in (["restyle", clip, str(out)], ["--input", clip, "--output", str(out)]):
        one_line_error(*cli(capsys, *argv, "--overwrite", "--model", str(bad_model)), "cannot load model")
        assert out.read_bytes() == b"keep me" and not os.path.exists(partial_path(str(out)))


@pytest.mark.parametrize(
    "output, match",
    [
        ("missing/out.mp4", "folder .*missing does not exist: create it first"),
        ("out.avi", "must end in .mp4"),
        ("out.gif", "must end in .mp4"),
    ],
)
def test_bad_outputs(tmp_path, clip, tiny_model, capsys, output, match):
    rc, err = cli(capsys, "restyle", clip, str(tmp_path / output), "--model", tiny_model)
    one_line_error(rc, err, match)


def test_output_is_the_input(clip, tiny_model, capsys):
    one_line_error(*cli(capsys, "restyle", clip, clip, "--overwrite", "--model", tiny_model), "is the input")


def test_unwritable_output_folder(tmp_path, clip, tiny_model, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    one_line_error(*cli(capsys, "restyle", clip, str(locked / "out.mp4"), "--model", tiny_model), "not writable")


# ---- values --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, value, match",
    [
        ("--size", "abc", "is not WxH"),
        ("--size", "64", "is not WxH"),
        ("--size", "0x64", "impossible"),
        ("--size", "100x64", "multiples of 16"),
        ("--size", "99999x64", "impossible"),
        ("--strength", "0", r"in \(0, 1\]"),
        ("--strength", "1.5", r"in \(0, 1\]"),
        ("--strength", "-0.2", r"in \(0, 1\]"),
        ("--strength", "lots", "not a number"),
        ("--steps", "0", "at least 1"),
        ("--steps", "5", "give 1 to 4"),
        ("--steps", "two", "not a whole number"),
        ("--seed", "x", "not a whole number"),
        ("--noise-refresh", "2", r"in \[0, 1\]"),
        ("--noise-refresh", "some", "not a number"),
        ("--sink-refresh", "1.5", r"in \[-1, 1\]"),
        ("--sink-refresh", "x", "not a number"),
    ],
)
def test_bad_values(tmp_path, clip, tiny_model, capsys, option, value, match):
    out = str(tmp_path / "out.mp4")
    one_line_error(*cli(capsys, "restyle", clip, out, "--model", tiny_model, option, value), match)
    one_line_error(*cli(capsys, "--input", "pattern", "--output", "null", "--model", tiny_model, option, value), match)
    one_line_error(*cli(capsys, "bench", "--model", tiny_model, option, value), match)
    assert not os.path.exists(out)


def test_bad_counts(tiny_model, capsys):
    one_line_error(*cli(capsys, "--input", "pattern", "--output", "null", "--max-frames", "0"), "at least 1")
    one_line_error(*cli(capsys, "bench", "--model", tiny_model, "--frames", "0"), "at least 1")


def test_cuda_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    one_line_error(*cli(capsys, "--input", "pattern", "--output", "null", "--device", "cuda"), "sees no CUDA GPU")


# ---- models --------------------------------------------------------------------------------------
class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_models(tmp_path, tiny_model) -> dict[str, tuple[str, str]]:
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model, damaged)
    weights = damaged / "dit.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "hidden_size": 8}))
    from safetensors.torch import save_file

    save_file({"bert.embeddings.weight": torch.zeros(4, 4)}, str(foreign / "model.safetensors"))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    _Exploit.marker = str(tmp_path / "exploited")
    (pickled / "model.pt").write_bytes(pickle.dumps({"generator": _Exploit()}))
    (pickled / "Wan2.1_VAE.pth").write_bytes(pickle.dumps({"x": _Exploit()}))
    not_json = tmp_path / "not_json"
    not_json.mkdir()
    (not_json / "config.json").write_text("{oops")
    a_file = tmp_path / "weights.safetensors"
    a_file.write_bytes(b"\0" * 64)
    return {
        "damaged": (str(damaged), "cannot load model"),
        "foreign": (str(foreign), "cannot load model"),
        "pickled": (str(pickled), "cannot load model"),
        "not json": (str(not_json), "cannot load model"),
        "a file": (str(a_file), "needs a folder"),
        "missing": (str(tmp_path / "nowhere"), "does not exist"),
    }


def test_bad_models(tmp_path, clip, tiny_model, capsys):
    for model, match in _bad_models(tmp_path, tiny_model).values():
        for argv in (
            ["restyle", clip, str(tmp_path / "out.mp4")],
            ["--input", "pattern", "--output", "null"],
            ["bench"],
        ):
            rc, err = cli(capsys, *argv, "--model", model)
            one_line_error(rc, err, match)
    assert not os.path.exists(tmp_path / "exploited"), "a pickle in a checkpoint was executed"
    assert not os.path.exists(tmp_path / "out.mp4")


def test_a_pickled_checkpoint_is_one_line_from_python_m_v2v(tmp_path, tiny_model):
    """torch warns about the pickle while refusing it: the user still sees only the error."""
    model, _ = _bad_models(tmp_path, tiny_model)["pickled"]
    proc = run_v2v("--input", "pattern", "--output", "null", "--model", model)
    one_line_error(proc.returncode, proc.stderr, "cannot load model.*refusing to run code")
    assert not os.path.exists(tmp_path / "exploited")


# ---- sources and sinks that are not available here --------------------------------------------
@pytest.mark.parametrize(
    "source, match",
    [
        ("webcam", "neither a file nor a source name"),
        ("pattern:1x1", "at least 16"),
    ],
)
def test_unavailable_sources(capsys, source, match):
    one_line_error(*cli(capsys, "--input", source, "--output", "null"), match)


def test_devices_missing_here(capsys, monkeypatch, tiny_model):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    one_line_error(*cli(capsys, "--input", "screen", "--output", "null"), "DISPLAY is not set")
    one_line_error(*cli(capsys, "--input", "window:Untitled - Notepad", "--output", "null"), "DISPLAY is not set")
    one_line_error(*cli(capsys, "--input", "game_window", "--output", "null"), "DISPLAY is not set")
    one_line_error(
        *cli(capsys, "--input", "screen", "--output", "null", "--game-titles", "Foo"),
        "--game-titles applies only to --input game_window",
    )
    one_line_error(*cli(capsys, "--input", "pattern", "--output", "preview"), "needs a display")
    one_line_error(*cli(capsys, "--input", "pattern", "--output", "obs"), "needs the OBS plugin")
    if not glob.glob("/dev/video*"):
        one_line_error(*cli(capsys, "--input", "camera:0", "--output", "null"), "camera 0 could not be opened")
        one_line_error(
            *cli(capsys, "--input", "pattern", "--output", "vcam", "--model", tiny_model),
            "no virtual camera.*modprobe v4l2loopback",
        )


def test_endless_input_into_a_file(tmp_path, capsys):
    one_line_error(*cli(capsys, "--input", "pattern", "--output", str(tmp_path / "x.mp4")), "--max-frames")
    assert not os.listdir(tmp_path)


# ---- the real entry point ----------------------------------------------------------------------
def test_python_m_v2v_errors_are_one_line(tmp_path, tiny_model):
    proc = run_v2v("restyle", str(tmp_path / "missing.mp4"), str(tmp_path / "out.mp4"), "--model", tiny_model)
    one_line_error(proc.returncode, proc.stderr, "does not exist")
    proc = run_v2v("--input", "window:Game", "--output", "null")
    one_line_error(proc.returncode, proc.stderr, "window capture needs")
    proc = run_v2v("--input", "camera:7", "--output", "null", "--model", tiny_model)
    if not glob.glob("/dev/video7"):
        one_line_error(proc.returncode, proc.stderr, "camera 7 could not be opened")  # no OpenCV warnings


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--frobnicate"], "unrecognized arguments"),
        ([], "--input and --output are required"),
        (["--input", "pattern"], "--input and --output are required"),
        (["restyle", "only_one.mp4"], "required: OUT"),
        (["--input", "pattern", "--output", "null", "--device", "tpu"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_in_one_line(argv, match):
    proc = run_v2v(*argv)
    one_line_error(proc.returncode, proc.stderr, match, status=2)


def test_debug_shows_the_traceback(tmp_path, capsys):
    rc, err = cli(capsys, "restyle", str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4"), "--debug")
    assert rc == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")
