import dataclasses
import gc
import warnings

import pytest
import torch
from torch.testing import assert_close

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import random_bundle
from v2v.sampling import add_noise, v2v_timesteps, x0_from_flow

EXACT = dict(motion_k=0.0, skip_threshold=0.0, window_frames=64, sink_frames=0)


def _video(T: int, H: int = 64, W: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, H, W, generator=g) * 2 - 1
    drift = torch.linspace(0, 0.3, T).view(T, 1, 1, 1)
    return (base + drift + 0.05 * torch.randn(T, 3, H, W, generator=g)).clamp(-1, 1)  # [T, 3, H, W]


def _run(engine: StreamEngine, video: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    outs, i = [], 0
    for n in sizes:
        outs.append(engine.push(video[i : i + n]))
        i += n
    outs.append(engine.push(video[i:]))
    outs.append(engine.flush())
    return torch.cat([o for o in outs if o.numel()], 0)


def _reference(bundle, video: torch.Tensor, cfg: EngineConfig) -> torch.Tensor:
    """The same computation without the KV cache or stream coders: whole-clip encode, then for each block
    a block-causal whole-clip DiT call over [clean earlier blocks at t = 0, this noisy block]."""
    dit = bundle.dit
    ctx = bundle.text.encode([cfg.prompt])
    z = bundle.vae.encode(video.transpose(0, 1)[None])  # [1, C, F, h, w]
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = v2v_timesteps(bundle.sampling.timesteps, cfg.strength, bundle.sampling.v2v_offset, cfg.steps)
    clean: list[torch.Tensor] = []
    for f in range(z.shape[2]):
        zf = z[:, :, f : f + 1]  # [1, C, 1, h, w]
        x = add_noise(zf, torch.randn(zf.shape, generator=gen), cfg.strength)
        for i, t in enumerate(steps):
            full = torch.cat([*clean, x], 2)  # [1, C, f+1, h, w]
            tt = torch.tensor([[0.0] * f + [t]])  # [1, f+1]
            flow = dit(full, tt, ctx)[:, :, -1:]  # [1, C, 1, h, w]
            x0 = x0_from_flow(x, flow, t / 1000)
            if i + 1 < len(steps):
                x = add_noise(x0, torch.randn(x0.shape, generator=gen), steps[i + 1] / 1000)
        clean.append(x0)
    return bundle.vae.decode(torch.cat(clean, 2))[0].transpose(0, 1)  # [T, 3, H, W]


@torch.no_grad()
def test_chunked_streaming_equals_whole_clip_causal_run():
    bundle = random_bundle(seed=1)
    cfg = EngineConfig(prompt="a realistic landscape", strength=0.8, seed=3, **EXACT)
    video = _video(1 + 4 * 5)
    out = _run(StreamEngine(bundle, cfg), video, [1, 3, 6, 2])
    assert out.shape == video.shape
    assert_close(out, _reference(bundle, video, cfg), rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_every_input_frame_gives_one_output_frame_in_any_push_pattern():
    bundle = random_bundle()
    for T, sizes in [(1, []), (2, [1]), (7, [3, 3]), (13, [5, 1, 1, 1])]:
        engine = StreamEngine(bundle, EngineConfig(prompt="toon"))
        assert _run(engine, _video(T), sizes).shape[0] == T
        assert engine.pending == 0


def test_frames_needed_is_what_completes_the_next_chunk():
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="toon"))
    tf = bundle.vae.temporal_factor
    assert engine.frames_needed() == 1  # the first chunk is one frame (1 + tf·(n − 1), n = 1)
    video = _video(1 + tf)
    assert engine.push(video[:1]).shape[0] == 1 and engine.frames_needed() == tf
    assert engine.push(video[1:3]).shape[0] == 0 and engine.frames_needed() == tf - 2
    assert engine.push(video[3 : 1 + tf]).shape[0] == tf and engine.frames_needed() == tf


@torch.no_grad()
def test_same_seed_same_output_other_seed_differs():
    bundle, video = random_bundle(), _video(9)
    a = _run(StreamEngine(bundle, EngineConfig(prompt="night", seed=5)), video, [4])
    b = _run(StreamEngine(bundle, EngineConfig(prompt="night", seed=5)), video, [2, 2])
    c = _run(StreamEngine(bundle, EngineConfig(prompt="night", seed=6)), video, [4])
    assert_close(a, b)
    assert (a - c).abs().max() > 1e-3


@torch.no_grad()
def test_reset_restarts_the_stream_identically():
    bundle, video = random_bundle(), _video(9)
    engine = StreamEngine(bundle, EngineConfig(prompt="sketch", seed=2))
    first = _run(engine, video, [5])
    engine.push(video[:5])
    engine.reset()
    assert engine.pending == 0 and engine.cache is None
    assert_close(_run(engine, video, [5]), first)


def _live_tensors() -> int:
    with warnings.catch_warnings():  # isinstance touches deprecated lazy attributes of some torch modules
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


@torch.no_grad()
def test_a_long_stream_reuses_the_cache_storage_and_holds_no_more_tensors():
    """Memory stays flat: the KV cache writes into the buffers it allocated for its first chunk, and after
    the first chunks no tensor outlives its chunk (a history kept anywhere would add tensors every chunk)."""
    bundle = random_bundle(size=(32, 32))
    engine = StreamEngine(bundle, EngineConfig(prompt="blocky", window_frames=2, sink_frames=1, motion_k=0.0))
    frames = _video(4, 32, 32)
    engine.push(frames[:1])
    for _ in range(5):  # past the first chunks: the window fills, the prompt's cross-attention is cached
        engine.push(frames)
    cache = engine.cache
    storage = (cache.k.data_ptr(), cache.v.data_ptr())
    gc.collect()
    before = _live_tensors()
    for _ in range(60):
        out = engine.push(frames)
        assert out.shape[0] == 4 and torch.isfinite(out).all()
    del out
    gc.collect()
    assert engine.cache is cache and (cache.k.data_ptr(), cache.v.data_ptr()) == storage
    assert cache.frames_written > cache.capacity  # the ring went round many times
    assert _live_tensors() <= before, "tensors accumulate over the stream"


@torch.no_grad()
def test_prompt_switch_mid_stream_blends_without_reset():
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="blocky", prompt_blend_chunks=3, motion_k=0.0))
    video = _video(1 + 4 * 8)
    engine.push(video[:9])
    cache = engine.cache
    old, new = bundle.text.encode(["blocky"]), bundle.text.encode(["realistic"])
    engine.set_prompt("realistic")
    contexts = []
    for k in range(4):
        out = engine.push(video[9 + 4 * k : 13 + 4 * k])
        assert out.shape[0] == 4 and torch.isfinite(out).all()
        contexts.append(engine._context.clone())
    assert engine.cache is cache, "a prompt switch must not reset the stream"
    # the blend moves monotonically from the old to the new embedding, then stays there
    d = [float((c - new).norm()) for c in contexts]
    assert float((old - new).norm()) > d[0] > d[1] > d[2] == pytest.approx(0.0, abs=1e-6)
    assert d[3] == pytest.approx(0.0, abs=1e-6)


@torch.no_grad()
def test_static_input_is_skipped_a_bounded_number_of_times():
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="toon", skip_threshold=0.01, max_skips=2, motion_k=0.0))
    still = _video(1).expand(1 + 4 * 6, -1, -1, -1).contiguous()
    prev = engine.push(still[:1])
    skipped = []
    for k in range(6):
        out = engine.push(still[1 + 4 * k : 5 + 4 * k])
        skipped.append(engine.last_metrics.skipped)
        if skipped[-1]:
            assert_close(out, prev[-1:].expand_as(out))
        prev = out
    assert skipped == [True, True, False, True, True, False]


@torch.no_grad()
def test_more_motion_gives_less_noise():
    bundle = random_bundle()
    cfg = EngineConfig(prompt="toon", strength=0.8, motion_k=0.2, motion_momentum=0.0)
    calm, busy = StreamEngine(bundle, cfg), StreamEngine(bundle, cfg)
    g = torch.Generator().manual_seed(0)
    calm.push(_video(5))
    busy.push(torch.rand(5, 3, 64, 64, generator=g) * 2 - 1)
    assert busy.last_metrics.motion > calm.last_metrics.motion
    assert busy.last_metrics.strength < calm.last_metrics.strength <= 0.8


def test_clean_pass_setting_changes_what_is_cached():
    bundle, video = random_bundle(), _video(9)
    with torch.no_grad():
        a = _run(StreamEngine(bundle, EngineConfig(prompt="toon", clean_pass=True)), video, [])
        b = _run(StreamEngine(bundle, EngineConfig(prompt="toon", clean_pass=False)), video, [])
    assert_close(a[:1], b[:1])  # the first chunk sees no cache either way
    assert (a[1:] - b[1:]).abs().max() > 1e-4


def _chunk_noises(refresh: float, chunks: int = 4) -> list[list[torch.Tensor]]:
    """The noises each chunk drew (initial noising, then one re-noise per later step), chunk by chunk."""
    bundle = random_bundle(seed=1)
    engine = StreamEngine(bundle, EngineConfig(prompt="toon", noise_refresh=refresh, **EXACT))
    seen: list[list[torch.Tensor]] = []
    draw = engine._noise

    def spy(like):
        if engine._noise_calls == 0:
            seen.append([])
        seen[-1].append(draw(like).clone())
        return seen[-1][-1]

    engine._noise = spy
    with torch.no_grad():
        engine.push(_video(1 + 4 * (chunks - 1)))
    return seen


def test_noise_refresh_one_draws_fresh_noise_zero_repeats_it():
    fresh, fixed, half = _chunk_noises(1.0), _chunk_noises(0.0), _chunk_noises(0.5)
    assert len(fresh) == 4 and len(fresh[0]) >= 2  # every chunk: the initial noise and a re-noise
    for a, b in zip(fixed[:-1], fixed[1:], strict=True):
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)  # the i-th noise of each chunk is the i-th of the one before
    assert_close(fixed[0][0], fresh[0][0])  # the first chunk has nothing to repeat
    assert (fresh[1][0] - fresh[0][0]).abs().mean() > 0.5
    corr = lambda x, y: float((x * y).mean() / (x.std() * y.std()))  # noqa: E731
    assert 0.5 < corr(half[1][0], half[0][0]) < 0.9  # sqrt(0.5) ≈ 0.71 expected
    assert abs(float(half[3][0].std()) - 1.0) < 0.15  # unit variance is kept
    assert abs(corr(fresh[1][0], fresh[0][0])) < 0.2


@torch.no_grad()
def test_fixed_noise_gives_a_steady_output_for_a_still_input():
    bundle = random_bundle(seed=1)
    still = _video(1)[:1].expand(13, -1, -1, -1).clone()  # [13, 3, H, W]
    change = {}
    for refresh in (1.0, 0.0):
        out = _run(StreamEngine(bundle, EngineConfig(prompt="toon", noise_refresh=refresh, **EXACT)), still, [])
        change[refresh] = float((out[9:] - out[5:9]).abs().mean())  # chunk 3 against chunk 2
    assert change[0.0] < 0.5 * change[1.0]


@pytest.mark.parametrize(
    "bad",
    [
        dict(strength=0.0),
        dict(strength=1.5),
        dict(steps=0),
        dict(window_frames=0),
        dict(noise_refresh=-0.1),
        dict(noise_refresh=1.5),
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        StreamEngine(random_bundle(), dataclasses.replace(EngineConfig(), **bad))


def test_bad_frames_are_refused_with_the_shape_received():
    engine = StreamEngine(random_bundle())
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        engine.push(torch.zeros(2, 64, 64, 3))
    with pytest.raises(ValueError, match="multiple of 16"):
        engine.push(torch.zeros(2, 3, 60, 64))


@pytest.mark.parametrize("vae", ["tiny", "wan"])
def test_the_engine_runs_in_bfloat16_as_on_a_gpu(vae):
    """`--device cuda` loads models in bfloat16: every part (the float32 norms with bfloat16 affine weights
    among them) must take it, with both autoencoders, and give what float32 gives up to bfloat16 rounding."""
    from v2v.models import presets
    from v2v.models.vae import WanVAE

    video = _video(9)
    outs = []
    for dtype in (torch.float32, torch.bfloat16):
        bundle = random_bundle()
        if vae == "wan":
            torch.manual_seed(1)
            bundle = dataclasses.replace(bundle, vae=WanVAE(presets.tiny_vae_config(z_dim=4)).eval())
        bundle.to("cpu", dtype)
        outs.append(_run(StreamEngine(bundle, EngineConfig(prompt="realistic", **EXACT)), video, [1, 4]).float())
    assert outs[1].shape == outs[0].shape == video.shape and torch.isfinite(outs[1]).all()
    assert (outs[1] - outs[0]).abs().mean() < 0.05 < outs[0].std()  # the same picture, not noise
