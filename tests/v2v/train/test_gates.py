"""The restyle gates (gates.py) pass a faithful restyle and fail the outputs a user would reject: a blurred
image, the mean image, the input unchanged, a frozen frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from v2v.train import gates
from v2v.train.data import heldout_seeds, render_styles, sample_scene


def _failed(scores: dict[str, float]) -> set[str]:
    return {name for name, (_, ok) in gates.judge(scores).items() if not ok}


def _blur(clip: np.ndarray) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in clip])


def _mean(clip: np.ndarray) -> np.ndarray:
    return np.broadcast_to(clip.mean((0, 1, 2), keepdims=True).astype(np.uint8), clip.shape).copy()


def _frozen(clip: np.ndarray) -> np.ndarray:
    return np.broadcast_to(clip[:1], clip.shape).copy()


@pytest.fixture(scope="module")
def scene() -> dict[str, np.ndarray]:
    return render_styles(sample_scene(heldout_seeds(1)[0], "side"), ("blocky", "realistic"), 9, (96, 96))


def test_procedural_gate_passes_the_truth_and_fails_blur_mean_input_and_frozen(scene) -> None:
    source, truth = scene["blocky"], scene["realistic"]
    rng = np.random.default_rng(0)
    near = np.clip(truth + rng.normal(0, 3, truth.shape), 0, 255).astype(np.uint8)
    assert _failed(gates.procedural_restyle_scores(near, source, truth)) == set()
    assert {"sharpness"} <= _failed(gates.procedural_restyle_scores(_blur(truth), source, truth))
    assert {"edge_corr", "sharpness", "motion"} <= _failed(gates.procedural_restyle_scores(_mean(truth), source, truth))
    assert "psnr_gain" in _failed(gates.procedural_restyle_scores(source, source, truth))
    assert "motion" in _failed(gates.procedural_restyle_scores(_frozen(truth), source, truth))


def test_real_gate_passes_a_recolouring_and_fails_blur_mean_input_and_frozen() -> None:
    pytest.importorskip("skimage", reason='the real held-out content needs the train extra: pip install -e ".[train]"')
    clips = gates.held_out_real(side=96, frames=9)
    name, clip = next((k, v) for k, v in clips.items() if v.shape[0] > 1)  # a moving clip
    recoloured = np.clip(clip[..., ::-1].astype(np.float32) * 0.8 + 30, 0, 255).astype(np.uint8)
    assert _failed(gates.real_restyle_scores(recoloured, clip)) == set(), name
    assert "real_change" in _failed(gates.real_restyle_scores(clip, clip))
    assert {"real_edge_corr", "real_sharpness"} <= _failed(gates.real_restyle_scores(_mean(clip), clip))
    assert "real_sharpness" in _failed(gates.real_restyle_scores(_blur(recoloured), clip))
    assert "motion" in _failed(gates.real_restyle_scores(_frozen(recoloured), clip))


def test_gates_markdown_marks_each_measure(scene) -> None:
    scores = gates.procedural_restyle_scores(scene["blocky"], scene["blocky"], scene["realistic"])
    result = {"groups": {"blocky->realistic": {"gates": gates.judge(scores)}}, "passed": False}
    table = gates.gates_markdown(result)
    assert table[0].startswith("| group | psnr_gain (≥ 3)") and "FAIL" in table[2]


def test_train_gates_measures_a_bundle_and_fails_a_random_one(tmp_path, capsys) -> None:
    import json
    import warnings

    from v2v.models.bundle import random_bundle, save_bundle
    from v2v.train.cli import main

    pytest.importorskip("skimage", reason='the real held-out content needs the train extra: pip install -e ".[train]"')
    save_bundle(random_bundle(size=(32, 32)), tmp_path / "model")
    out = tmp_path / "gates.json"
    argv = ["gates", "--model", str(tmp_path / "model"), "--scenes", "1", "--frames", "5", "--size", "32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random bundle's tiny vocabulary warns about prompt words
        assert main([*argv, "--json", str(out)]) == 2
    result = json.loads(out.read_text())
    assert not result["passed"] and {"blocky->realistic", "voxel blocky->realistic"} <= set(result["groups"])
    assert "a gate FAILS" in capsys.readouterr().out
    assert main(["gates", "--model", str(tmp_path / "nothing")]) == 1


def test_gates_sheet_puts_each_input_above_its_outputs(tmp_path) -> None:
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    examples = {
        ("real: toon", "photo"): (red, blue),
        ("real: night", "photo"): (red, red),
        ("voxel blocky->realistic", "voxel 7"): (blue, red),
    }
    path = tmp_path / "sheet.png"
    assert gates.gates_sheet(examples, path, tile=16) == ["photo", "voxel 7"]
    sheet = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    x0, top, step = 110, 24, 20  # label width, title height, tile + pad
    assert tuple(sheet[top + 8, x0 + 8]) == (255, 0, 0)  # photo's input, red
    assert tuple(sheet[top + step + 8, x0 + 8]) == (0, 0, 255)  # its toon output, blue
    assert tuple(sheet[top + 8, x0 + step + 8]) == (0, 0, 255)  # the voxel scene's input


def test_autoencoder_gate_metrics_reject_blur_mean_and_frozen() -> None:
    pytest.importorskip("skimage", reason='the real training data needs the train extra: pip install -e ".[train]"')
    clips = gates.held_out_real(side=64)
    same = gates.round_trip_scores(lambda c: c, clips)
    assert same["edge_corr"] > 0.99 and same["sharpness"] == pytest.approx(1.0)
    blurred = gates.round_trip_scores(_blur, clips)
    assert blurred["sharpness"] < gates.AE_GATES["real_sharpness"]
    assert blurred["edge_corr"] < same["edge_corr"]
    mean = gates.round_trip_scores(
        lambda c: np.broadcast_to(c.mean((0, 1, 2), keepdims=True).astype(np.uint8), c.shape).copy(), clips
    )
    assert mean["psnr"] < gates.AE_GATES["real_psnr"] and mean["sharpness"] < 0.01
    frozen = gates.round_trip_scores(
        lambda c: np.broadcast_to(c[:1], c.shape).copy(), {k: v for k, v in clips.items() if v.shape[0] > 1}
    )
    assert frozen["psnr"] < gates.AE_GATES["real_psnr"]
