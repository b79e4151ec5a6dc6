"""The quality report end to end on a tiny random bundle: a --quick run writes every section and a PNG."""

import dataclasses
import re
import warnings

import pytest
import torch
from safetensors.torch import save_file

from v2v.models.bundle import load_bundle, random_bundle, save_bundle
from v2v.models.dit import DiT
from v2v.pixels import to_float
from v2v.train import report_sections as rs
from v2v.train import report_stream, report_teacher
from v2v.train.report import main

HEADINGS = (
    "## Machine and settings",
    "## Summary",
    "## 1. Blocky → realistic at the default strength",
    "## 2. Style accuracy over all style pairs",
    "## 3. Temporal consistency",
    "## 4. Drift over a",
    "## 5. Student vs teacher on the same inputs",
    "## 6. Speed",
    "## 7. Contact sheet",
    "## 8. Restyle gates",
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    bundle = random_bundle(size=(32, 32))
    save_bundle(bundle, folder / "model")
    torch.manual_seed(1)
    teacher = DiT(dataclasses.replace(bundle.dit.config, causal=False))
    state = {f"dit.{k}": v.contiguous() for k, v in teacher.state_dict().items()}
    save_file(state, str(folder / "teacher.safetensors"))
    return folder


def _run(argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random bundle's tiny vocabulary warns about prompt words
        return main(argv)


def test_quick_report_has_every_section_and_a_contact_sheet(model, tmp_path):
    import cv2

    out = tmp_path / "docs" / "quality.md"
    assert (
        _run(
            [
                "--model",
                str(model / "model"),
                "--teacher",
                str(model / "teacher.safetensors"),
                "--out",
                str(out),
                "--quick",
            ]
        )
        == 0
    )
    text = out.read_text()
    for heading in HEADINGS:
        assert heading in text, heading
    sheet = tmp_path / "docs" / "quality_contact_sheet.png"
    assert "](quality_contact_sheet.png)" in text
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[0] > 3 * 128
    assert "torch" in text and "32×32" in text
    assert len(re.findall(r"\*\*(PASS|FAIL)\*\*", text)) >= 6
    assert "teacher (SDEdit, many-step)" in text and "Not measured" not in text
    assert re.search(r"autoencoder alone \(encode, decode, no DiT.*realistic \d+\.\d%", text)
    assert re.search(r"round trip through the model's autoencoder alone has warp error 0\.\d{4}", text)
    assert re.search(r"0\.\d{4} across chunk boundaries .* 0\.\d{4} inside chunks", text)
    assert "| sharpness / ground truth |" in text and re.search(
        r"^\| \*\*mean\*\* \|.*\| \*\*\d+\.\d\d\*\* \|$", text, re.M
    )
    assert "comes back" in text
    assert "](quality_gates.png)" in text and cv2.imread(str(tmp_path / "docs" / "quality_gates.png")) is not None
    import json

    measured = json.loads((tmp_path / "docs" / "quality.json").read_text())
    assert measured["gates"]["passed"] is False and measured["summary"][0]["measure"].startswith("1. blocky")
    assert "| PSNR output, colour matched (dB) |" in text
    assert re.search(r"Colour matched \(informational, not a gate\).*The difference, [+-]\d+\.\d\d dB", text)
    assert "fresh engine" in text and re.search(r"^\| sharpness_vs_gt \|.*\| [+-]\d+\.\d% \|$", text, re.M)


def test_sections_writes_a_partial_report_of_what_was_asked(model, tmp_path, capsys):
    """--sections 1,2,3 measures those sections alone (same numbers as the full run's, same seeds) and never
    replaces the full report; a bad list is an error before any work."""
    full, part = tmp_path / "full.md", tmp_path / "part.md"
    bundle = ["--model", str(model / "model"), "--teacher", str(model / "teacher.safetensors"), "--quick"]
    assert _run([*bundle, "--out", str(full)]) == 0
    capsys.readouterr()
    assert _run([*bundle, "--out", str(part), "--sections", "2,1,3"]) == 0
    text, whole = part.read_text(), full.read_text()
    assert "(sections 1, 2, 3 only)" in text and "--sections 1,2,3" in text
    assert "sections 4, 5, 6, 7, 8 were not measured" in text
    for heading in HEADINGS[2:5]:
        assert heading in text, heading
    for heading in HEADINGS[5:]:
        assert heading not in text, heading
    assert not (tmp_path / "part_contact_sheet.png").exists()
    summary = lambda t: re.findall(r"^\| [123]\. .*$", t, re.M)  # noqa: E731
    assert summary(text) == summary(whole) and len(summary(text)) == 4  # the same measurement, row for row
    out = capsys.readouterr().out
    assert "2. style accuracy, 20 pairs:" in out and "6. sustained speed" not in out
    assert _run([*bundle, "--sections", "1"]) == 2
    assert "needs --out FILE" in capsys.readouterr().err
    assert _run([*bundle, "--sections", "1,9", "--out", str(part)]) == 2
    assert "give section numbers from 1, 2" in capsys.readouterr().err


def test_autoencoder_round_trip_is_the_vae_alone(model):
    import numpy as np

    from v2v.train import report_sections as rs
    from v2v.train.data import render_clip, sample_scene

    bundle = load_bundle(model / "model")
    clip = render_clip(sample_scene(5), "realistic", 5, bundle.size)
    rt = rs.round_trip(bundle, clip)
    assert rt.shape == clip.shape and rt.dtype == np.uint8
    x = to_float(clip).transpose(0, 1).unsqueeze(0)
    expected = bundle.vae.decode(bundle.vae.encode(x))
    assert np.abs(rt.astype(int) - rs.as_uint8_video(expected.squeeze(0).transpose(0, 1)).astype(int)).max() <= 1


def test_without_a_teacher_the_section_says_so(model, tmp_path):
    out = tmp_path / "q.md"
    assert _run(["--model", str(model / "model"), "--out", str(out), "--quick", "--stream-frames", "12"]) == 0
    section = out.read_text().split("## 5.")[1].split("## 6.")[0]
    assert "Not measured: no teacher checkpoint was found" in section


def test_a_teacher_of_another_model_is_refused_plainly(tmp_path):
    other = random_bundle(size=(32, 32))
    teacher = DiT(dataclasses.replace(other.dit.config, in_dim=8, out_dim=8, causal=False))
    path = tmp_path / "teacher.safetensors"
    save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(path))
    with pytest.raises(report_teacher.TeacherUnavailable, match="does not fit|not this model's teacher"):
        report_teacher.load_teacher(path, other)


def test_pingpong_stream_ends_on_the_frames_it_began_with():
    assert [report_stream.stream_scene_frame(i, 10, "pingpong") for i in range(10)] == [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    assert [report_stream.stream_scene_frame(i, 5, "forward") for i in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="pingpong or forward"):
        report_stream.stream_scene_frame(0, 4, "loop")


def test_drift_windows_of_a_pingpong_stream_hold_the_same_ground_truth(model):
    bundle = load_bundle(model / "model")
    dr = report_stream.measure_drift(bundle, 7, 24, 4, 0.7)
    assert dr.path == "pingpong" and dr.frames == 24
    for k in ("gt_brightness", "gt_contrast", "gt_sharpness", "gt_colorfulness"):
        assert dr.first[k] == pytest.approx(dr.last[k], rel=1e-6), k
    forward = report_stream.measure_drift(bundle, 7, 24, 4, 0.7, path="forward")
    assert forward.first["gt_sharpness"] != pytest.approx(forward.last["gt_sharpness"], rel=1e-6)


def test_warp_by_transition_separates_chunk_boundaries():
    import numpy as np

    from v2v.engine import ChunkMetrics

    video = np.zeros((9, 16, 16, 3), np.uint8)
    video[5:] = 40  # a jump where the third chunk starts
    chunks = [ChunkMetrics(frames_out=1), ChunkMetrics(frames_out=4), ChunkMetrics(frames_out=4)]
    from v2v.metrics import warp_terms

    boundary, inside, gt = rs.warp_by_transition(warp_terms(video), warp_terms(np.zeros_like(video)), chunks)
    assert inside == 0 and gt == 0
    assert boundary == pytest.approx(40 / 255 / 2, rel=1e-3)  # transitions 1 (no change) and 5 (the jump)


def test_a_kept_block_is_set_once_and_survives_a_new_page():
    from v2v.train.report_page import kept_blocks, put_block

    page = put_block("# Quality report\n\ntext\n", "animation", "## Animation\n\nfirst")
    page = put_block(page, "animation", "## Animation\n\nsecond")
    assert page.count("<!-- kept: animation -->") == 1 and "second" in page and "first" not in page
    assert page.startswith("# Quality report\n\ntext\n")
    (block,) = kept_blocks(page)
    assert block.startswith("<!-- kept: animation -->") and "second" in block
    assert kept_blocks("# a page without blocks\n") == []
