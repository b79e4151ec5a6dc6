"""A source-conditioned DiT (config.source_channels): zero-initialised it is the plain model exactly, with
the source it sees the clean latents, and a plain checkpoint loads into it; plain models refuse a source."""

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from tests.v2v.models.test_dit import inputs, tiny
from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import random_bundle
from v2v.models.dit import DiT
from v2v.models.loading import load_dit


def _pair() -> tuple[DiT, DiT]:
    torch.manual_seed(0)
    plain = DiT(tiny(causal=True)).eval()
    source = DiT(tiny(causal=True, source_channels=4)).eval().load_plain(plain.state_dict())
    return plain, source


@torch.no_grad()
def test_zero_initialised_source_model_is_the_plain_model_exactly() -> None:
    plain, source = _pair()
    x, t, c = inputs(F=3)
    z = torch.randn_like(x)
    assert torch.equal(source(x, t, c, source=z), plain(x, t, c))
    assert torch.equal(source(x, t, c), plain(x, t, c))  # no source: the channels are zero


@torch.no_grad()
def test_the_source_changes_the_output_once_trained() -> None:
    _, source = _pair()
    torch.nn.init.normal_(source.source_embedding.weight, std=0.1)
    x, t, c = inputs(F=3)
    a, b = source(x, t, c, source=torch.randn_like(x)), source(x, t, c, source=torch.randn_like(x))
    assert (a - b).abs().mean() > 1e-3


def test_a_plain_model_refuses_a_source_and_a_bad_shape_is_named() -> None:
    plain, source = _pair()
    x, t, c = inputs(F=3)
    with pytest.raises(ValueError, match="no source channels"):
        plain(x, t, c, source=x)
    with pytest.raises(AssertionError, match="source must be"):
        source(x, t, c, source=x[:, :2])


def test_plain_checkpoints_load_strictly_and_into_a_source_model() -> None:
    plain, source = _pair()
    loaded = load_dit(plain.state_dict(), tiny(causal=True))  # a public layout: no source key
    assert loaded.source_embedding is None
    with pytest.raises(KeyError, match="unexpected"):
        DiT(tiny()).load_plain({**plain.state_dict(), "extra.weight": torch.zeros(1)})
    round_trip = load_dit(source.state_dict(), tiny(causal=True, source_channels=4))
    assert torch.equal(round_trip.source_embedding.weight, source.source_embedding.weight)


def _source_bundle(weight_std: float):
    bundle = random_bundle(seed=2)
    cfg = dataclasses.replace(bundle.dit.config, source_channels=bundle.vae.z_dim)
    dit = DiT(cfg).eval().requires_grad_(False).load_plain(bundle.dit.state_dict())
    if weight_std:
        torch.nn.init.normal_(dit.source_embedding.weight, std=weight_std)
    return dataclasses.replace(bundle, dit=dit), bundle


@torch.no_grad()
def test_the_engine_gives_the_source_to_source_models_only() -> None:
    video = torch.rand(9, 3, 64, 64) * 2 - 1
    cfg = EngineConfig(prompt="a realistic landscape", strength=0.8, seed=1, motion_k=0.0, skip_threshold=0.0)
    zero, plain = _source_bundle(0.0)
    out_plain = StreamEngine(plain, cfg).push(video)  # [T', 3, H, W]
    assert out_plain.shape[0] > 0
    assert_close(StreamEngine(zero, cfg).push(video), out_plain, rtol=0, atol=0)
    trained, _ = _source_bundle(0.2)
    assert (StreamEngine(trained, cfg).push(video) - out_plain).abs().mean() > 1e-3
