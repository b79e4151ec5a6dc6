"""The `adapt` stage (v2v/train/adapt_stage.py): the student's rollouts through the engine, and a decoder fitted
to them."""

import torch

from tests.v2v.train.helpers import run_config
from v2v.models.bundle import load_bundle
from v2v.pixels import to_float
from v2v.train.common import load_ckpt, resolve_device


def test_adapt_trains_the_decoder_only(run):
    workdir, _ = run
    tuned, adapted = (load_ckpt(workdir / s / "ckpt.pt") for s in ("decoder", "adapt"))
    changed = {k for k in tuned["vae"] if not torch.equal(tuned["vae"][k], adapted["vae"][k])}
    assert changed and all(k.startswith(("group_decoder.", "frame_decoder.")) for k in changed)
    assert adapted["vae_config"]["latent_std"] == tuned["vae_config"]["latent_std"]


def test_adapt_records_the_engines_latents_with_the_target_style_render(run):
    """The rollouts are what the engine decodes: decoding the recorded latents with a fresh stream decoder
    gives the engine's output, and every clip comes with its target-style render."""
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.train import data
    from v2v.train.adapt_stage import ROLLOUT_FRAMES, adapted_student, rollouts_path
    from v2v.train.export import build_bundle

    workdir, out = run
    config = run_config(workdir)
    rec = torch.load(rollouts_path(workdir), weights_only=True)
    W, H = config.size
    z, h, w = config.vae.z_dim, H // 8, W // 8
    F = 1 + (ROLLOUT_FRAMES - 1) // 4  # the TinyVAE packs 4 pixel frames after the first into a latent one
    assert rec["latents"].shape == (config.adapt_clips, z, F, h, w)
    assert rec["frames"].shape == (config.adapt_clips, ROLLOUT_FRAMES, H, W, 3)
    dmd_step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    assert adapted_student(workdir) == rec["student"] == f"'dmd' step {dmd_step} (EMA)"
    seed, source, target, start, strength = rec["meta"][0]
    assert source != target and 0.5 < strength < 0.9
    clips = data.render_styles(data.sample_scene(seed), (source, target), ROLLOUT_FRAMES, (W, H), start=start)
    assert torch.equal(rec["frames"][0], torch.from_numpy(clips[target]))
    device = resolve_device("auto")  # where the run recorded them: CPU and GPU arithmetic differ in the last bits
    bundle, _ = build_bundle(workdir, config)
    bundle.to(device)
    seen = []
    engine = StreamEngine(
        load_bundle(out, device=device),
        EngineConfig(prompt=data.style_prompt(target), strength=strength, seed=seed),
        on_latents=seen.append,
    )
    video = to_float(clips[source]).to(device)  # [T, 3, H, W]
    output = torch.cat([engine.push(video), engine.flush()])
    latents = torch.cat(seen, dim=2)  # [1, z, F, h, w]
    torch.testing.assert_close(latents[0].half().cpu(), rec["latents"][0])
    torch.testing.assert_close(bundle.vae.stream_decoder()(latents)[0].transpose(0, 1), output)
