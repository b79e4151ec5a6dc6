"""WanVAE: checkpoint layout, shapes, streaming == whole clip, latent normalisation, input checks."""

import json
import re
from pathlib import Path

import pytest
import torch

from v2v.models.vae import VAEConfig, WanVAE

REFERENCE = Path(__file__).parents[2] / "data" / "reference" / "wan2.1_vae.json"
STATS = dict(latent_mean=(0.5, -1.0, 0.25, 2.0), latent_std=(2.0, 0.5, 1.5, 3.0))


def tiny(**kw) -> VAEConfig:
    return VAEConfig(**{**dict(base_dim=8, z_dim=4, dim_mult=(1, 2, 2, 2)), **kw})


@pytest.fixture(scope="module")
def vae() -> WanVAE:
    torch.manual_seed(0)
    return WanVAE(tiny(**STATS)).eval()


def clip(T: int, H: int = 32, W: int = 32, B: int = 1, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, T, H, W, generator=g) * 2 - 1


def test_default_config_matches_the_checkpoint_layout():
    reference = json.loads(REFERENCE.read_text())
    with torch.device("meta"):
        model = WanVAE(VAEConfig())
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == reference["shapes"]
    assert len(shapes) == reference["tensors"] == 194
    assert sum(p.numel() for p in model.parameters()) == reference["parameters"] == 126_892_531
    assert (model.z_dim, model.spatial_factor, model.temporal_factor) == (16, 8, 4)


@pytest.mark.parametrize("k", [0, 1, 3])
@torch.no_grad()
def test_encode_decode_shapes(vae: WanVAE, k: int):
    video = clip(1 + 4 * k, H=32, W=48, B=2)
    z = vae.encode(video)
    assert z.shape == (2, 4, 1 + k, 4, 6) and z.dtype == torch.float32
    x = vae.decode(z)
    assert x.shape == video.shape
    assert x.abs().max() <= 1.0


@torch.no_grad()
def test_stream_encode_in_chunks_equals_whole_clip(vae: WanVAE):
    video = clip(17)
    whole = vae.encode(video)
    coder = vae.stream_encoder()
    parts, t = [], 0
    for n in (1, 4, 4, 8):
        parts.append(coder(video[:, :, t : t + n]))
        t += n
    assert [p.shape[2] for p in parts] == [1, 1, 1, 2]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-5)

    coder.reset()  # a fresh stream: the first call takes 1 + 4k frames again
    other = clip(5, seed=2)
    torch.testing.assert_close(coder(other), vae.encode(other), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_stream_decode_per_latent_equals_whole_clip(vae: WanVAE):
    z = vae.encode(clip(13))
    whole = vae.decode(z)
    coder = vae.stream_decoder()
    parts = [coder(z[:, :, i : i + 1]) for i in range(z.shape[2])]
    assert [p.shape[2] for p in parts] == [1, 4, 4, 4]
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-5)

    coder.reset()
    torch.testing.assert_close(coder(z[:, :, 1:3]), vae.decode(z[:, :, 1:3]), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_encoder_is_causal(vae: WanVAE):
    video = clip(9)
    changed = video.clone()
    changed[:, :, 5:] = clip(4, seed=3)
    a, b = vae.encode(video), vae.encode(changed)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2], rtol=0, atol=0)
    assert not torch.allclose(a[:, :, 2], b[:, :, 2])


@torch.no_grad()
def test_latent_normalisation_is_the_affine_mean_std(vae: WanVAE):
    raw = WanVAE(tiny(normalize_latents=False, **STATS)).eval()
    raw.load_state_dict(vae.state_dict())
    video = clip(5)
    mean = torch.tensor(STATS["latent_mean"]).view(1, 4, 1, 1, 1)
    std = torch.tensor(STATS["latent_std"]).view(1, 4, 1, 1, 1)
    mu, z = raw.encode(video), vae.encode(video)
    assert not torch.allclose(mu, z)
    torch.testing.assert_close(z, (mu - mean) / std)
    torch.testing.assert_close(vae.decode(z), raw.decode(mu), rtol=1e-5, atol=1e-5)


def test_latent_statistics_follow_z_dim():
    assert VAEConfig().latent_std[0] == 2.8184
    assert tiny().latent_mean == (0.0,) * 4 and tiny().latent_std == (1.0,) * 4
    with pytest.raises(ValueError, match="z_dim = 4"):
        tiny(latent_mean=(0.0,) * 3, latent_std=(1.0,) * 3)


@pytest.mark.parametrize("shape", [(1, 4, 5, 32, 32), (1, 3, 6, 32, 32), (1, 3, 5, 36, 32), (3, 5, 32, 32)])
def test_encode_rejects_bad_video(vae: WanVAE, shape: tuple[int, ...]):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        vae.encode(torch.zeros(shape))


def test_decode_and_streams_reject_bad_input(vae: WanVAE):
    with pytest.raises(ValueError, match=re.escape("(1, 3, 2, 4, 4)")):
        vae.decode(torch.zeros(1, 3, 2, 4, 4))
    encoder = vae.stream_encoder()
    with torch.no_grad():
        encoder(clip(1))
    with pytest.raises(ValueError, match=re.escape("(1, 3, 3, 32, 32)")):
        encoder(clip(3))
    with pytest.raises(ValueError, match=re.escape("(1, 3, 4, 40, 32)")):
        encoder(clip(4, H=40))
