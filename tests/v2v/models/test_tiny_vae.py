import dataclasses

import pytest
import torch

from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig


def _vae(**kw) -> TinyVAE:
    torch.manual_seed(0)
    return TinyVAE(dataclasses.replace(TinyVAEConfig.tiny(), **kw)).eval()


def _video(T: int, H: int = 32, W: int = 48) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(2, 3, T, H, W) * 2 - 1


def test_protocol_attributes_and_shapes():
    vae = _vae()
    assert (vae.z_dim, vae.spatial_factor, vae.temporal_factor) == (4, 8, 4)
    z = vae.encode(_video(9))
    assert z.shape == (2, 4, 3, 4, 6)
    x = vae.decode(z)
    assert x.shape == (2, 3, 9, 32, 48)
    assert x.min() >= -1 and x.max() <= 1


def test_rejects_bad_layouts():
    vae = _vae()
    with pytest.raises(AssertionError, match="T = 1 \\+ 4k"):
        vae.encode(_video(8))
    with pytest.raises(AssertionError, match="B, 3, T, H, W"):
        vae.encode(torch.zeros(3, 9, 32, 32))


def test_streaming_equals_whole_clip():
    vae = _vae()
    video = _video(13)
    z = vae.encode(video)
    enc = vae.stream_encoder()
    parts = [enc(video[:, :, :1]), enc(video[:, :, 1:5]), enc(video[:, :, 5:13])]
    torch.testing.assert_close(torch.cat(parts, 2), z)
    dec = vae.stream_decoder()
    frames = [dec(z[:, :, :1]), dec(z[:, :, 1:2]), dec(z[:, :, 2:4])]
    assert [f.shape[2] for f in frames] == [1, 4, 8]
    torch.testing.assert_close(torch.cat(frames, 2), vae.decode(z))
    enc.reset()
    dec.reset()
    torch.testing.assert_close(enc(video[:, :, :5]), z[:, :, :2])
    torch.testing.assert_close(dec(z[:, :, :2]), vae.decode(z[:, :, :2]))


def test_latent_normalisation_from_config():
    raw = _vae()
    stats = _vae(latent_mean=(0.5, -1.0, 0.0, 2.0), latent_std=(2.0, 0.5, 1.0, 4.0))
    stats.load_state_dict(raw.state_dict())
    video = _video(5)
    z_raw, z = raw.encode(video), stats.encode(video)
    mean = torch.tensor([0.5, -1.0, 0.0, 2.0]).view(1, -1, 1, 1, 1)
    std = torch.tensor([2.0, 0.5, 1.0, 4.0]).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(z, (z_raw - mean) / std)
    torch.testing.assert_close(stats.decode(z), raw.decode(z_raw), atol=1e-4, rtol=1e-4)


def test_any_memory_layout_encodes_alike():
    """Frames stacked as [T, 3, H, W] and transposed (the engine's and the report's layout) reach the
    convs with channels-last strides; the result must not depend on the layout."""
    vae = _vae()
    video = _video(9)
    odd = video.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)  # same values, channels-last strides
    assert not odd.is_contiguous()
    torch.testing.assert_close(vae.encode(odd), vae.encode(video))
    z = vae.encode(video)
    torch.testing.assert_close(vae.decode(z.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)), vae.decode(z))


def test_extra_blocks_default_to_the_base_network() -> None:
    base = TinyVAE(TinyVAEConfig.tiny())
    deep = TinyVAE(dataclasses.replace(TinyVAEConfig.tiny(), enc_blocks=1, dec_blocks=1))
    assert set(base.state_dict()) < set(deep.state_dict())  # old checkpoints' keys are all still there
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    assert deep.decode(deep.encode(x)).shape == x.shape
