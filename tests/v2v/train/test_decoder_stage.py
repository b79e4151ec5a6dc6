"""The `decoder` stage (v2v/train/decoder_stage.py): a decoder fine-tune for the latent space of the `vae` stage,
its temporal loss and its still clips."""

import json

import numpy as np
import pytest
import torch

from v2v.train.cli import main
from v2v.train.common import load_ckpt
from v2v.train.decoder_stage import temporal_l1, with_still_clips


def test_decoder_loss_sees_motion_the_clip_does_not_have():
    still = torch.zeros(1, 3, 5, 8, 8)
    shimmer = still.clone()
    shimmer[:, :, 1::2] += 0.5
    assert temporal_l1(still, still) == 0
    assert temporal_l1(shimmer, still) > 0.4
    assert temporal_l1(shimmer + 1, shimmer) == 0  # a constant offset is not a temporal error


def test_still_clips_repeat_one_frame_of_their_own_clip():
    video = torch.rand(64, 3, 5, 4, 4)
    out = with_still_clips(video, np.random.default_rng(0), share=0.5)
    still = [b for b in range(64) if torch.equal(out[b], out[b, :, :1].expand(-1, 5, -1, -1))]
    assert 16 < len(still) < 48
    for b in still:
        assert any(torch.equal(out[b, :, 0], video[b, :, t]) for t in range(5))
    moving = [b for b in range(64) if b not in still]
    assert all(torch.equal(out[b], video[b]) for b in moving)


def test_the_decoder_stage_trains_the_decoder_only(run):
    workdir, _ = run
    vae, tuned = (load_ckpt(workdir / s / "ckpt.pt") for s in ("vae", "decoder"))
    changed = {k for k in vae["vae"] if not torch.equal(vae["vae"][k], tuned["vae"][k])}
    assert changed and all(k.startswith(("group_decoder.", "frame_decoder.")) for k in changed)
    assert tuned["vae_config"]["latent_std"] == vae["vae_config"]["latent_std"]


def test_decoder_stage_trains_a_sharper_decoder_for_the_same_latent_space(tmp_path) -> None:
    """With the run's sharp terms on (real content, spectrum, adversarial from step 1), `train decoder` moves
    only the decoder, keeps the encoder and latent statistics, and resumes its discriminator."""
    pytest.importorskip("skimage", reason='the real training data needs the train extra: pip install -e ".[train]"')
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
