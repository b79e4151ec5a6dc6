"""The autoencoder's data (real_data.py), losses (vae_stage.py) and gate (gates.py)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from v2v import metrics
from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
from v2v.train import gates

pytest.importorskip("skimage", reason='the real training data needs the train extra: pip install -e ".[train]"')


def test_real_split_is_named_and_disjoint() -> None:
    from v2v.train.real_data import HELDOUT, load_real

    train, held = load_real("train"), load_real("heldout")
    assert {i.name for i in held} == set(HELDOUT)
    assert not {i.name for i in train} & set(HELDOUT)
    assert any(i.frames.shape[0] > 1 for i in train) and any(i.frames.shape[0] == 1 for i in train)
    for item in train + held:
        assert item.frames.dtype == np.uint8 and item.frames.ndim == 4 and item.frames.shape[-1] == 3


def test_real_clip_moves_and_keeps_detail() -> None:
    from v2v.train.real_data import load_real, real_clip

    rng = np.random.default_rng(0)
    still = next(i for i in load_real("train") if i.name == "rocket")
    clip = real_clip(still, rng, 9, (64, 48))
    assert clip.shape == (9, 48, 64, 3) and clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 1.0  # the view pans
    assert clip.std() > 10  # not a flat patch


def _blur(clip: np.ndarray) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in clip])


def test_gate_metrics_reject_blur_mean_and_frozen() -> None:
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


def test_sharpness_orders_blur_and_noise() -> None:
    rng = np.random.default_rng(1)
    frame = (rng.random((1, 64, 64, 3)) * 255).astype(np.uint8)
    assert metrics.sharpness(_blur(frame), frame) < 0.2
    noisy = np.clip(frame + rng.normal(0, 30, frame.shape), 0, 255).astype(np.uint8)
    assert metrics.sharpness(noisy, frame) > 1.0


def test_extra_blocks_default_to_the_base_network() -> None:
    base = TinyVAE(TinyVAEConfig.tiny())
    deep = TinyVAE(dataclasses.replace(TinyVAEConfig.tiny(), enc_blocks=1, dec_blocks=1))
    assert set(base.state_dict()) < set(deep.state_dict())  # old checkpoints' keys are all still there
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    assert deep.decode(deep.encode(x)).shape == x.shape


def test_sharp_losses_train_a_step() -> None:
    from v2v.train.common import AutoencoderConfig
    from v2v.train.vae_stage import reconstruction_loss, spectrum_l1

    vae = TinyVAE(TinyVAEConfig.tiny())
    video = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    ae = AutoencoderConfig(mse=0.0, fft=0.1)
    loss, z, recon = reconstruction_loss(vae, video, ae)
    loss.backward()
    assert recon.shape == video.shape and torch.isfinite(loss)
    assert all(p.grad is not None for p in vae.parameters())
    assert spectrum_l1(video, video) == 0
    assert spectrum_l1(torch.nn.functional.avg_pool2d(video[0], 3, 1, 1), video[0]) > 0.01


def test_perceptual_distance_prefers_noise_to_blur() -> None:
    from v2v.train.perceptual import PerceptualDistance, available

    if available() is not None:
        pytest.skip(available())
    distance = PerceptualDistance()
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    assert distance(a, a).item() == 0.0
    blurred = torch.nn.functional.avg_pool2d(a, 3, 1, 1)
    assert distance(blurred, a) > distance(a + 0.1 * torch.randn_like(a), a)


def test_decoder_stage_trains_a_sharper_decoder_for_the_same_latent_space(tmp_path) -> None:
    """With the run's sharp terms on (real content, spectrum, adversarial from step 1), `train decoder` moves
    only the decoder, keeps the encoder and latent statistics, and resumes its discriminator."""
    import json

    from v2v.train.cli import main
    from v2v.train.common import load_ckpt

    workdir = tmp_path / "run"
    assert main(["vae", "--preset", "tiny", "--workdir", str(workdir)]) == 0
    config = json.loads((workdir / "run.json").read_text())
    config["autoencoder"] = {"real": 0.5, "mse": 0.0, "fft": 0.1, "adversarial": 0.5, "adversarial_from": 1}
    (workdir / "run.json").write_text(json.dumps(config))
    assert main(["decoder", "--workdir", str(workdir)]) == 0
    vae, tuned = (load_ckpt(workdir / s / "ckpt.pt") for s in ("vae", "decoder"))
    changed = {k for k in vae["vae"] if not torch.equal(vae["vae"][k], tuned["vae"][k])}
    assert changed and all(k.startswith(("group_decoder.", "frame_decoder.")) for k in changed)
    assert tuned["vae_config"]["latent_std"] == vae["vae_config"]["latent_std"]
    assert "disc" in tuned and "disc_opt" in tuned
    disc = {k: v.clone() for k, v in tuned["disc"].items()}
    assert main(["decoder", "--workdir", str(workdir), "--steps", str(tuned["step"] + 1)]) == 0
    resumed = load_ckpt(workdir / "decoder" / "ckpt.pt")
    assert resumed["step"] == tuned["step"] + 1
    assert any(not torch.equal(disc[k], resumed["disc"][k]) for k in disc)  # it went on training
