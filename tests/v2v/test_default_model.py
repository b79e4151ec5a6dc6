"""The embedded default model: it ships, loads offline, and restyles."""

import torch

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import DEFAULT_DIR, load_bundle
from v2v.pixels import to_float
from v2v.train.data import heldout_seeds, render_clip, sample_scene, style_prompt


def test_default_weights_ship_within_the_size_budget():
    files = sorted(p.name for p in DEFAULT_DIR.iterdir())
    assert {"config.json", "dit.safetensors", "vae.safetensors", "text.safetensors"} <= set(files)
    total = sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())
    assert total <= 40 * 2**20, f"default model is {total / 2**20:.1f} MB, over the 40 MB budget"


@torch.no_grad()
def test_default_model_restyles_a_held_out_clip():
    bundle = load_bundle("default")
    assert bundle.dit.config.causal and min(bundle.size) >= 256
    W, H = bundle.size
    scene = sample_scene(heldout_seeds(1)[0])
    video = to_float(render_clip(scene, "blocky", 9, (W, H)))  # [T, 3, H, W]
    engine = StreamEngine(bundle, EngineConfig(prompt=style_prompt("realistic"), seed=0))
    out = torch.cat([engine.push(video), engine.flush()], 0)
    assert out.shape == video.shape and torch.isfinite(out).all()
    assert out.min() >= -1 and out.max() <= 1
    assert (out - video).abs().mean() > 0.02, "the model returned its input unchanged"
