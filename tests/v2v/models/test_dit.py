"""DiT: shapes, Wan's RoPE, block-causal == KV-streamed, causal single block == bidirectional,
cache bookkeeping of write_cache and of the cross-attention keys/values."""

import dataclasses

import pytest
import torch

from v2v.models import presets
from v2v.models.dit import DiT, DiTConfig
from v2v.models.rope import Rope3D, apply_rope

tiny = presets.tiny


def model(**kw) -> DiT:
    torch.manual_seed(0)
    return DiT(tiny(**kw)).eval()


def inputs(B: int = 1, F: int = 4, H: int = 4, W: int = 6, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 4, F, H, W, generator=g)
    t = torch.rand(B, F, generator=g) * 1000  # per-frame timesteps
    context = torch.randn(B, 5, 24, generator=g)  # shorter than text_len: padded inside
    return x, t, context


def test_output_shape_and_dtype():
    m = model()
    x, t, c = inputs(B=2, F=3)
    with torch.no_grad():
        out = m(x, t, c)
        out_scalar_t = m(x, t[:, 0], c)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out_scalar_t.shape == x.shape
    assert out.abs().mean() > 1e-3  # the random init is not degenerate


def test_rope_matches_wan_complex_float64():
    rope = Rope3D(head_dim=16)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2 * 3 * 4, 2, 16, generator=g)  # [B, L, N, D]
    cos, sin = rope.tables(2, 3, 4, start=5, device=torch.device("cpu"))
    ours = apply_rope(x, cos, sin)
    # Wan: per axis polar(1, outer(pos, 1/θ^(2i/d))) in complex128, split [c-2(c//3), c//3, c//3]
    c = 8
    sizes = [c - 2 * (c // 3), c // 3, c // 3]
    axes = []
    for n, pos in zip(sizes, [torch.arange(5, 7), torch.arange(3), torch.arange(4)], strict=True):
        d = 2 * n
        ang = torch.outer(pos.double(), 1.0 / 10000 ** (torch.arange(0, d, 2).double() / d))
        axes.append(torch.polar(torch.ones_like(ang), ang))
    freqs = torch.cat(
        [
            axes[0][:, None, None].expand(2, 3, 4, -1),
            axes[1][None, :, None].expand(2, 3, 4, -1),
            axes[2][None, None, :].expand(2, 3, 4, -1),
        ],
        dim=-1,
    ).reshape(24, 1, c)
    ref = torch.view_as_real(torch.view_as_complex(x.double().reshape(1, 24, 2, c, 2)) * freqs)
    torch.testing.assert_close(ours, ref.flatten(-2).float(), atol=1e-6, rtol=1e-6)


def test_rotate_time_composes_with_rope():
    rope = Rope3D(head_dim=16)
    x = torch.randn(1, 2 * 2 * 2, 2, 16)
    cos9, sin9 = rope.tables(2, 2, 2, start=9, device=torch.device("cpu"))
    cos2, sin2 = rope.tables(2, 2, 2, start=2, device=torch.device("cpu"))
    torch.testing.assert_close(
        rope.rotate_time(apply_rope(x, cos9, sin9), -7), apply_rope(x, cos2, sin2), atol=1e-6, rtol=1e-5
    )


def test_context_is_zero_padded_not_masked():
    m = model()
    x, t, c = inputs()
    padded = torch.cat([c, torch.zeros(1, 3, 24)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(m(x, t, c), m(x, t, padded))
        assert not torch.allclose(m(x, t, c), m(x, t, c[:, :3]))  # padding tokens count


def test_equal_per_frame_timesteps_equal_one_timestep():
    m = model()
    x, t, c = inputs(F=3)
    with torch.no_grad():
        torch.testing.assert_close(m(x, t[:, :1].expand(1, 3), c), m(x, t[:, 0], c))
        assert not torch.allclose(m(x, t, c), m(x, t[:, 0], c))  # per-frame modulation is used


@pytest.mark.parametrize("fpb", [1, 2])
def test_kv_streamed_chunks_equal_block_causal_clip(fpb):
    m = model(causal=True, frames_per_block=fpb)
    x, t, c = inputs(B=2, F=3 * fpb)
    with torch.no_grad():
        whole = m(x, t, c)
        cache = m.new_cache(batch=2, frame_tokens=2 * 3, window_frames=3 * fpb, sink_frames=0)
        chunks = [
            m(x[:, :, i : i + fpb], t[:, i : i + fpb], c, cache=cache, write_cache=True) for i in range(0, 3 * fpb, fpb)
        ]
    torch.testing.assert_close(torch.cat(chunks, dim=2), whole, rtol=1e-4, atol=1e-5)
    assert cache.next_position == 3 * fpb


def test_block_causal_clip_ignores_the_future():
    m = model(causal=True, frames_per_block=2)
    x, t, c = inputs(F=4)
    later = x.clone()
    later[:, :, 2:] += 1.0
    with torch.no_grad():
        a, b = m(x, t, c), m(later, t, c)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2])
    assert not torch.allclose(a[:, :, 2:], b[:, :, 2:])


def test_causal_single_block_equals_bidirectional():
    causal = model(causal=True, frames_per_block=3)
    bidirectional = model(causal=False)
    bidirectional.load_state_dict(causal.state_dict())
    x, t, c = inputs(F=3)
    with torch.no_grad():
        torch.testing.assert_close(causal(x, t, c), bidirectional(x, t, c))
        # and with more than one block the mask matters
        x6, t6, c6 = inputs(F=6)
        assert not torch.allclose(causal(x6, t6, c6)[:, :, :3], bidirectional(x6, t6, c6)[:, :, :3])


def snapshot(cache):
    return (cache.k.clone(), cache.v.clone(), cache.next_position, cache.frames, list(cache.slot_position), cache.ring)


def test_write_cache_false_leaves_cache_unchanged():
    m = model(causal=True)
    x, t, c = inputs(F=3)
    with torch.no_grad():
        cache = m.new_cache(1, 6, window_frames=2, sink_frames=1)
        m(x[:, :, :1], t[:, :1], c, cache=cache, write_cache=True)
        before = snapshot(cache)
        first = m(x[:, :, 1:2], t[:, 1:2], c, cache=cache)
        second = m(x[:, :, 1:2], t[:, 1:2], c, cache=cache)
        after = snapshot(cache)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(after[0], before[0], rtol=0, atol=0)
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)
    assert after[2:] == before[2:]
    with torch.no_grad():
        m(x[:, :, 1:2], t[:, 1:2], c, cache=cache, write_cache=True)
    assert cache.next_position == 2 and not torch.equal(cache.k, before[0])


def test_cross_attention_recomputed_only_for_a_new_context_tensor():
    m = model(causal=True)
    calls = []
    m.text_embedding.register_forward_hook(lambda *a: calls.append(1))
    x, t, c = inputs(F=2)
    with torch.no_grad():
        cache = m.new_cache(1, 6, window_frames=4, sink_frames=0)
        m(x[:, :, :1], t[:, :1], c, cache=cache, write_cache=True)
        k0 = cache.cross_k[0]
        m(x[:, :, 1:], t[:, 1:], c, cache=cache)
        assert len(calls) == 1 and cache.cross_k[0] is k0
        other = c * 2
        out_new = m(x[:, :, 1:], t[:, 1:], other, cache=cache)
        assert len(calls) == 2 and cache.context is other and cache.cross_k[0] is not k0
        out_hit = m(x[:, :, 1:], t[:, 1:], other, cache=cache)
        assert len(calls) == 2
        out_fresh = m(x[:, :, 1:], t[:, 1:], other.clone(), cache=cache)  # equal values, new tensor
        assert len(calls) == 3
        out_old = m(x[:, :, 1:], t[:, 1:], c, cache=cache)
    torch.testing.assert_close(out_hit, out_new, rtol=0, atol=0)
    torch.testing.assert_close(out_fresh, out_new)
    assert not torch.allclose(out_old, out_new)


def test_gradients_reach_every_parameter():
    m = model(causal=True, frames_per_block=1)
    m.train()
    x, t, c = inputs(F=2)
    m(x, t, c).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_bad_inputs_are_named():
    m = model()
    x, t, c = inputs()
    with pytest.raises(AssertionError, match=r"x must be \[B, 4, F, H, W\]"):
        m(x[:, :3], t, c)
    with pytest.raises(AssertionError, match="t must be"):
        m(x, t[:, :2], c)
    with pytest.raises(AssertionError, match="context must be"):
        m(x, t, torch.zeros(1, 9, 24))
    with pytest.raises(AssertionError, match="patch"):
        m(x[..., :3], t, c)


def test_config_is_frozen_and_defaults_are_wan_1_3b():
    cfg = DiTConfig()
    wan = (cfg.dim, cfg.ffn_dim, cfg.num_heads, cfg.num_layers, cfg.text_len)
    assert wan == (1536, 8960, 12, 30, 512)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.dim = 8


def test_compiled_blocks_stream_with_a_cache_without_a_graph_per_layer():
    """`--compile`: each block is compiled once for all layers. A block that took the cache and its layer index
    was recompiled for every layer (dynamo guards the index), so past its recompile limit (8) the deeper
    layers of a 30-layer model ran uncompiled; blocks now take and return tensors only."""
    from torch._dynamo.utils import counters

    from v2v.bench import synthetic_frames
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.models.bundle import random_bundle

    torch._dynamo.reset()
    counters.clear()
    outs = []
    for compiled in (False, True):
        bundle = random_bundle()
        torch.manual_seed(0)
        dit = DiT(dataclasses.replace(bundle.dit.config, num_layers=12)).eval().requires_grad_(False)
        if compiled:
            dit.compile_blocks(backend="eager")  # dynamo's graphs run as captured: no C++ compiler needed
        bundle = dataclasses.replace(bundle, dit=dit)
        engine = StreamEngine(bundle, EngineConfig(prompt="a", window_frames=2, sink_frames=1))
        clip = synthetic_frames(25, bundle.size)  # [T, 3, H, W]
        outs.append(torch.cat([engine.push(clip[i : i + 4]) for i in range(0, 25, 4)] + [engine.flush()]))
    torch.testing.assert_close(outs[1], outs[0])
    assert counters["stats"]["unique_graphs"] >= 1  # it did compile
    assert counters["frames"]["total"] < 8  # a handful of shapes (first chunk, growing cache), not one per layer
    torch._dynamo.reset()
