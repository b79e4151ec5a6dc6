"""Attention backends: the registry reports availability, and every usable backend equals SDPA."""

import warnings

import pytest
import torch

from v2v.models import presets
from v2v.models.attention import BlockCausal, available_backends, block_causal_bool, get_backend, sdpa
from v2v.models.dit import DiT

AVAILABLE = available_backends()


def qkv(L: int = 24, S: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, L, 16, generator=g)
    k = torch.randn(2, 3, S, 16, generator=g)
    v = torch.randn(2, 3, S, 16, generator=g)
    return q, k, v


def test_registry_reports_every_backend():
    assert set(AVAILABLE) == {"sdpa", "flex", "flash"}
    assert AVAILABLE["sdpa"] is None
    for name, why in AVAILABLE.items():
        assert why is None or (isinstance(why, str) and why), name
    if not torch.cuda.is_available():
        assert "CUDA" in AVAILABLE["flash"]


def test_unknown_or_unavailable_backend_raises_with_reason():
    with pytest.raises(ValueError, match="unknown attention backend"):
        get_backend("nope")
    for name, why in AVAILABLE.items():
        if why is not None:
            with pytest.raises(ValueError, match="unavailable"):
                get_backend(name)


def test_block_causal_mask_pattern():
    m = block_causal_bool(BlockCausal(tokens=6, block=2), torch.device("cpu"))
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1],
        ]
    ).bool()
    assert torch.equal(m, expected)
    assert block_causal_bool(BlockCausal(6, 2), torch.device("cpu")) is m  # built once


def test_sdpa_block_causal_ignores_future_blocks():
    q, k, v = qkv()
    spec = BlockCausal(tokens=24, block=8)
    out = sdpa(q, k, v, spec)
    v2 = v.clone()
    v2[:, :, 16:] += 1.0
    k2 = k.clone()
    k2[:, :, 16:] -= 1.0
    changed = sdpa(q, k2, v2, spec)
    torch.testing.assert_close(changed[:, :, :16], out[:, :, :16])
    assert not torch.allclose(changed[:, :, 16:], out[:, :, 16:])


@pytest.mark.parametrize("name", sorted(AVAILABLE))
@pytest.mark.parametrize("mask", [None, BlockCausal(tokens=24, block=8)])
def test_backend_equals_sdpa(name, mask):
    if AVAILABLE[name] is not None:
        pytest.skip(AVAILABLE[name])
    fn = get_backend(name)
    q, k, v = qkv()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        out = fn(q, k, v, mask)
    torch.testing.assert_close(out, sdpa(q, k, v, mask), atol=1e-5, rtol=1e-4)


def test_backend_equals_sdpa_with_cached_keys():
    q, k, v = qkv(L=8, S=20)
    for name, why in AVAILABLE.items():
        if why is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*flex_attention called without.*")
                out = get_backend(name)(q, k, v, None)
            torch.testing.assert_close(out, sdpa(q, k, v, None), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in sorted(AVAILABLE) if n != "sdpa"])
def test_dit_with_backend_equals_sdpa(name):
    if AVAILABLE[name] is not None:
        pytest.skip(AVAILABLE[name])
    cfg = presets.tiny(causal=True, frames_per_block=1)
    torch.manual_seed(0)
    ref = DiT(cfg).eval()
    other = DiT(cfg, attention=name).eval()
    other.load_state_dict(ref.state_dict())
    x, t, c = torch.randn(1, 4, 3, 4, 4), torch.rand(1, 3) * 1000, torch.randn(1, 5, 24)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without.*")
        torch.testing.assert_close(other(x, t, c), ref(x, t, c), atol=1e-5, rtol=1e-4)
