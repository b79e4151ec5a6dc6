"""KVCache: fixed memory over a long stream, sink + ring bookkeeping, exact RoPE re-basing."""

import torch

from tests.v2v.micro import micro_dit
from v2v.models.dit import DiT
from v2v.models.kv_cache import KVCache
from v2v.models.rope import Rope3D


def micro(**kw) -> DiT:
    return micro_dit(**{"num_layers": 1, "causal": True, **kw})


def storage(cache: KVCache) -> list[int]:
    tensors = (cache.k, cache.v, *cache.cross_k, *cache.cross_v)
    return [t.untyped_storage().nbytes() for t in tensors]


def test_memory_is_constant_over_500_chunks_and_positions_rebase():
    m = micro()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 1, 2, 2, generator=g)  # one token per latent frame
    t = torch.full((1,), 500.0)
    c = torch.randn(1, 2, 8, generator=g)
    cache = m.new_cache(1, frame_tokens=1, window_frames=3, sink_frames=1, max_position=16)
    with torch.no_grad():
        m(x, t, c, cache=cache, write_cache=True)
        nbytes, sizes, k_ptr = cache.nbytes(), storage(cache), cache.k.data_ptr()
        for _ in range(499):
            m(x, t, c, cache=cache, write_cache=True)
    assert cache.nbytes() == nbytes and storage(cache) == sizes and cache.k.data_ptr() == k_ptr
    assert cache.frames_written == 500 and cache.frames == 4
    assert cache.rebases > 0 and cache.next_position <= 16
    assert cache.slot_position[0] == 0  # the sink keeps its position
    newest = list(range(cache.next_position - 3, cache.next_position))
    assert sorted(cache.slot_position[1:]) == newest
    assert min(cache.slot_position[1:]) >= 1


def stream(m: DiT, max_position: int, chunks: int = 14):
    g = torch.Generator().manual_seed(3)
    xs = torch.randn(chunks, 1, 2, 1, 4, 2, generator=g)
    ts = torch.rand(chunks, 1, 1, generator=g) * 1000
    c = torch.randn(1, 3, 8, generator=g)
    cache = m.new_cache(1, frame_tokens=2, window_frames=3, sink_frames=0, max_position=max_position)
    with torch.no_grad():
        outs = [m(xs[i], ts[i], c, cache=cache, write_cache=True) for i in range(chunks)]
    return torch.stack(outs), cache


def test_rebasing_is_exact_without_sinks():
    m = micro(num_layers=2)
    plain, plain_cache = stream(m, max_position=1024)
    rebased, rebased_cache = stream(m, max_position=5)
    assert plain_cache.rebases == 0 and rebased_cache.rebases >= 3
    assert rebased_cache.next_position < plain_cache.next_position
    torch.testing.assert_close(rebased, plain, rtol=1e-5, atol=1e-5)


def test_rebasing_with_sinks_changes_only_the_sink_distance():
    m = micro(num_layers=2)
    g = torch.Generator().manual_seed(4)
    xs = torch.randn(8, 1, 2, 1, 4, 2, generator=g)
    c = torch.randn(1, 3, 8, generator=g)
    t = torch.full((1,), 300.0)
    cache = m.new_cache(1, frame_tokens=2, window_frames=2, sink_frames=1, max_position=6)
    with torch.no_grad():
        for x in xs:
            m(x, t, c, cache=cache, write_cache=True)
    assert cache.rebases >= 1
    assert cache.slot_position[0] == 0
    assert sorted(cache.slot_position[1:]) == [cache.next_position - 2, cache.next_position - 1]


def test_adjacent_sinks_keep_every_chunk_at_the_same_relative_positions():
    """sink_adjacent: before each chunk the window is rotated back to sit right after the sinks, so the
    chunk always starts at position sink + window; a chunk's output then depends only on the cached
    frames' content, not on how long the stream has run."""
    m = micro(num_layers=2)
    g = torch.Generator().manual_seed(5)
    xs = torch.randn(9, 1, 2, 1, 4, 2, generator=g)
    c = torch.randn(1, 3, 8, generator=g)
    t = torch.full((1,), 300.0)
    cache = m.new_cache(1, frame_tokens=2, window_frames=2, sink_frames=1, sink_adjacent=True)
    ends = []
    with torch.no_grad():
        for x in xs:
            m(x, t, c, cache=cache, write_cache=True)
            ends.append(cache.next_position)
    assert ends == [1, 2, 3] + [4] * 6  # from the 4th chunk on: 1 sink + 2 window, the chunk at position 3
    assert cache.slot_position[0] == 0 and sorted(cache.slot_position[1:]) == [2, 3]
    assert cache.rebases == 5  # from the 5th chunk on, when the window has moved past position 1

    m = micro(num_layers=1)  # one layer: a cached key depends on its frame and position only

    def last_out(history: torch.Tensor) -> torch.Tensor:
        """The output for xs[-1] after the sink xs[0] and a history ending in xs[-3], xs[-2]."""
        cc = m.new_cache(1, frame_tokens=2, window_frames=2, sink_frames=1, sink_adjacent=True)
        with torch.no_grad():
            for x in history:
                m(x, t, c, cache=cc, write_cache=True)
            return m(xs[-1], t, c, cache=cc, write_cache=False)

    long = last_out(xs[:-1])
    short = last_out(torch.cat([xs[:1], xs[-3:-1]]))  # the same sink and window, a much shorter stream
    torch.testing.assert_close(long, short, rtol=1e-4, atol=1e-4)
    plain = m.new_cache(1, frame_tokens=2, window_frames=2, sink_frames=1)
    with torch.no_grad():
        for x in xs[:-1]:
            m(x, t, c, cache=plain, write_cache=True)
        assert (m(xs[-1], t, c, cache=plain, write_cache=False) - long).abs().max() > 1e-4  # the sink drifted away


def bare_cache(window: int, sinks: int, P: int = 2) -> KVCache:
    return KVCache(
        num_layers=1,
        batch=1,
        frame_tokens=P,
        num_heads=1,
        head_dim=6,
        window_frames=window,
        sink_frames=sinks,
        rope=Rope3D(6),
    )


def push(cache: KVCache, values: list[float]) -> None:
    """Write one chunk whose frame f has every key/value entry equal to values[f]."""
    P = cache.frame_tokens
    kv = torch.tensor(values).repeat_interleave(P)[None, :, None, None].expand(1, -1, 1, 6)
    cache.start_chunk(len(values))
    cache.write(0, kv, kv)
    cache.end_chunk()


def frame_values(cache: KVCache) -> list[float]:
    k, _ = cache.cached(0)
    return k[0, :: cache.frame_tokens, 0, 0].tolist()


def test_sinks_are_kept_and_the_ring_holds_the_newest_frames():
    cache = bare_cache(window=3, sinks=2)
    push(cache, [1.0])
    assert frame_values(cache) == [1.0]
    push(cache, [2.0, 3.0])  # the chunk spans the sink boundary
    assert frame_values(cache) == [1.0, 2.0, 3.0]
    push(cache, [4.0, 5.0])
    assert frame_values(cache) == [1.0, 2.0, 3.0, 4.0, 5.0]
    push(cache, [6.0])  # ring overwrites the oldest window frame (3)
    assert sorted(frame_values(cache)) == [1.0, 2.0, 4.0, 5.0, 6.0]
    push(cache, [7.0, 8.0, 9.0, 10.0])  # a chunk longer than the window keeps its newest frames
    assert sorted(frame_values(cache)) == [1.0, 2.0, 8.0, 9.0, 10.0]
    assert cache.next_position == 10 and cache.slot_position[:2] == [0, 1]
    assert sorted(cache.slot_position[2:]) == [7, 8, 9]


def test_reset_empties_the_cache_but_keeps_its_buffers():
    cache = bare_cache(window=2, sinks=1)
    push(cache, [1.0, 2.0])
    cache.set_cross(torch.zeros(1), [torch.zeros(1, 2, 1, 6)], [torch.zeros(1, 2, 1, 6)])
    buffers = cache.k.data_ptr()
    cache.reset()
    assert cache.frames == 0 and cache.next_position == 0 and cache.context is None
    assert cache.cached(0)[0].shape[1] == 0 and cache.k.data_ptr() == buffers
    assert cache.nbytes() == 2 * cache.k.numel() * cache.k.element_size()


def test_a_chunk_counts_only_once_end_chunk_commits_it():
    cache = bare_cache(window=2, sinks=0)
    push(cache, [1.0])
    kv = torch.full((1, 2, 1, 6), 9.0)
    cache.start_chunk(1)
    cache.write(0, kv, kv)  # a layer's write, before end_chunk commits the chunk
    assert frame_values(cache) == [1.0]
    assert cache.frames == 1 and cache.next_position == 1
    cache.start_chunk(1)  # the uncommitted chunk is dropped
    assert cache.next_position == 1


def test_training_through_a_cache_keeps_it_detached():
    m = micro(num_layers=2)
    g = torch.Generator().manual_seed(5)
    xs = torch.randn(3, 1, 2, 1, 4, 2, generator=g)
    c = torch.randn(1, 3, 8, generator=g)
    cache = m.new_cache(1, frame_tokens=2, window_frames=2, sink_frames=0)
    for x in xs:
        m(x, torch.full((1,), 100.0), c, cache=cache, write_cache=True).square().mean().backward()
    assert not cache.k.requires_grad and not cache.v.requires_grad
    assert cache.context is None  # text K/V are recomputed, not cached, under autograd
    assert m.text_embedding[0].weight.grad.abs().sum() > 0


def test_adaptive_sink_takes_a_frame_that_no_longer_resembles_it():
    """sink_refresh (StreamDiffusionV2's adaptive sink): after a chunk, a sink whose mean K/V cosine to
    the newest frame is below θ takes that frame's keys/values, rotated to the sink's own position."""
    rope = Rope3D(6)
    cache = KVCache(
        num_layers=1,
        batch=1,
        frame_tokens=2,
        num_heads=1,
        head_dim=6,
        window_frames=1,
        sink_frames=1,
        rope=rope,
        sink_refresh=0.5,
    )
    g = torch.Generator().manual_seed(0)
    sink = torch.randn(1, 2, 1, 6, generator=g)  # [B, P, N, D]
    for kv in (sink, sink * 1.5, sink):  # similar content (cosine 1): the sink stays
        cache.start_chunk(1)
        cache.write(0, kv, kv)
        cache.end_chunk()
    assert cache.sink_refreshes == 0 and cache.last_sink_similarity > 0.99
    torch.testing.assert_close(cache.k[0, :, :2], sink)
    new = -sink  # cosine −1: the scene has changed
    position = cache.start_chunk(1)
    cache.write(0, new, new)
    cache.end_chunk()
    assert cache.sink_refreshes == 1 and cache.last_sink_similarity < -0.99
    torch.testing.assert_close(cache.v[0, :, :2], new)
    # the new frame's keys were written at `position`; the sink holds them at position 0
    torch.testing.assert_close(cache.k[0, :, :2], rope.rotate_time(new, -position))
    assert cache.slot_position[0] == 0 and cache.slot_position[1] == position


def test_adaptive_sink_is_off_at_minus_one_and_without_a_window():
    for kw in (dict(sink_refresh=-1.0), dict(sink_refresh=None), dict(sink_refresh=0.9, window_frames=0)):
        args = dict(
            num_layers=1,
            batch=1,
            frame_tokens=1,
            num_heads=1,
            head_dim=6,
            window_frames=1,
            sink_frames=1,
            rope=Rope3D(6),
        )
        cache = KVCache(**{**args, **kw})
        for sign in (1.0, -1.0, 1.0):
            kv = torch.full((1, 1, 1, 6), sign)
            cache.start_chunk(1)
            cache.write(0, kv, kv)
            cache.end_chunk()
        assert cache.sink_refresh is None and cache.sink_refreshes == 0
        assert torch.equal(cache.v[0, :, :1], torch.ones(1, 1, 1, 6))
