import json

import pytest
import torch
from torch.testing import assert_close

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import load_bundle, random_bundle, save_bundle
from v2v.models.loading import CheckpointError


def _restyle(bundle, frames):
    engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape", seed=0))
    return torch.cat([engine.push(frames), engine.flush()], 0)


def test_save_and_load_round_trip_gives_the_same_stream(tmp_path):
    bundle = random_bundle(seed=2)
    save_bundle(bundle, tmp_path / "m")
    loaded = load_bundle(tmp_path / "m")
    assert loaded.size == bundle.size and loaded.sampling == bundle.sampling
    frames = torch.rand(5, 3, 64, 64) * 2 - 1
    assert_close(_restyle(loaded, frames), _restyle(bundle, frames))


def test_engine_recommendations_travel_with_the_bundle(tmp_path):
    import dataclasses

    bundle = dataclasses.replace(
        random_bundle(seed=2), window_frames=2, sink_frames=1, noise_refresh=0.25, sink_adjacent=True, sink_refresh=0.3
    )
    loaded = load_bundle(save_bundle(bundle, tmp_path / "m"))
    assert loaded.sink_refresh == 0.3
    assert StreamEngine(loaded).sink_refresh == 0.3
    assert StreamEngine(loaded, EngineConfig(sink_refresh=-1.0)).sink_refresh == -1.0
    always = StreamEngine(loaded, EngineConfig(prompt="toon", sink_refresh=1.0))  # any change refreshes
    always.push(torch.rand(13, 3, 64, 64) * 2 - 1)
    assert always.cache.sink_refresh == 1.0 and always.cache.sink_refreshes >= 1
    assert (loaded.window_frames, loaded.sink_frames, loaded.noise_refresh, loaded.sink_adjacent) == (2, 1, 0.25, True)
    engine = StreamEngine(loaded, EngineConfig(prompt="toon"))
    engine.push(torch.rand(9, 3, 64, 64) * 2 - 1)
    assert engine.cache.sink_adjacent
    off = StreamEngine(loaded, EngineConfig(prompt="toon", sink_adjacent=False))
    off.push(torch.rand(9, 3, 64, 64) * 2 - 1)
    assert not off.cache.sink_adjacent
    assert StreamEngine(loaded).noise_refresh == 0.25
    assert StreamEngine(loaded, EngineConfig(noise_refresh=1.0)).noise_refresh == 1.0
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["engine"]["noise_refresh"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="noise_refresh must be in"):
        load_bundle(tmp_path / "m")


def test_missing_and_wrong_model_paths_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="needs a folder"):
        load_bundle(tmp_path / "file.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_bundle(tmp_path / "empty")


def test_damaged_bundle_parts_name_the_file(tmp_path):
    folder = save_bundle(random_bundle(), tmp_path / "m")
    data = (folder / "dit.safetensors").read_bytes()
    (folder / "dit.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="dit.safetensors"):
        load_bundle(folder)
    folder = save_bundle(random_bundle(), tmp_path / "m2")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["dit"]["dim"] = 48
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="dit.safetensors"):
        load_bundle(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        load_bundle(folder)


def test_a_causvid_style_checkpoint_folder_loads_and_streams(tmp_path):
    """A Wan2.1-based folder: CausVid model.pt ({"generator": {"model.…": …}}), Wan2.1_VAE.pth, and a
    prompt-embedding cache instead of the umT5 encoder; tiny configs through v2v.json."""
    from v2v.models.dit import DiT, DiTConfig
    from v2v.models.text import PromptCache
    from v2v.models.vae import VAEConfig, WanVAE

    dit_cfg = dict(
        dim=32,
        ffn_dim=64,
        freq_dim=32,
        text_dim=24,
        in_dim=4,
        out_dim=4,
        num_heads=2,
        num_layers=2,
        text_len=8,
        causal=True,
        frames_per_block=1,
    )
    vae_cfg = dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2])
    folder = tmp_path / "causvid"
    folder.mkdir()
    torch.manual_seed(0)
    dit = DiT(DiTConfig(**dit_cfg))
    torch.save({"generator": {f"model.{k}": v for k, v in dit.state_dict().items()}}, folder / "model.pt")
    torch.save(WanVAE(VAEConfig(**{**vae_cfg, "dim_mult": (1, 2, 2, 2)})).state_dict(), folder / "Wan2.1_VAE.pth")
    PromptCache(folder / "prompt_cache").put("umt5-test", "oil painting", torch.randn(3, 24))
    (folder / "v2v.json").write_text(
        json.dumps(
            {
                "dit": dit_cfg,
                "vae": vae_cfg,
                "size": [64, 32],
                "sampling": {"shift": 5.0, "timesteps": [1000, 750, 500, 250], "frames_per_block": 1},
            }
        )
    )
    bundle = load_bundle(folder)
    assert bundle.size == (64, 32) and bundle.sampling.shift == 5.0
    # StreamDiffusionV2's v2v cache unless v2v.json says otherwise: 6 + 3 adaptive sinks at θ 0.2
    assert (bundle.window_frames, bundle.sink_frames, bundle.sink_refresh) == (6, 3, 0.2)
    assert_close(
        bundle.dit.state_dict()["blocks.0.self_attn.q.weight"], dit.state_dict()["blocks.0.self_attn.q.weight"]
    )
    engine = StreamEngine(bundle, EngineConfig(prompt="oil painting", strength=0.7))
    out = torch.cat([engine.push(torch.rand(6, 3, 32, 64) * 2 - 1), engine.flush()], 0)
    assert out.shape == (6, 3, 32, 64) and torch.isfinite(out).all()
