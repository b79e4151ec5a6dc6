"""Generation without input frames (engine.start_from / engine.generate): image animation and text to video
through the same engine loop and KV cache as restyling."""

from __future__ import annotations

import pytest
import torch

from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import random_bundle


def _image(size: int = 64) -> torch.Tensor:
    torch.manual_seed(3)
    return torch.rand(3, size, size) * 2 - 1  # [3, H, W] in [-1, 1]


def test_the_animation_starts_with_the_image_round_trip() -> None:
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape"))
    first = engine.start_from(_image())
    assert first.shape == (1, 3, 64, 64)
    with torch.inference_mode():
        round_trip = bundle.vae.decode(bundle.vae.encode(_image()[:, None][None]))[0].transpose(0, 1)  # [1, 3, H, W]
    torch.testing.assert_close(first, round_trip, atol=1e-5, rtol=1e-5)
    assert engine.cache is not None and engine.cache.frames_written == 1  # the still is the cached past
    nxt = engine.generate()
    assert nxt.shape == (4, 3, 64, 64) and torch.isfinite(nxt).all()
    assert engine.cache.frames_written == 2


def test_the_generated_chunks_follow_the_still() -> None:
    """The chunks after a still attend to it: two different stills give two different continuations from the
    same noise seed."""
    bundle = random_bundle()
    outs = []
    for image in (_image(), -_image()):
        engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape", seed=5))
        engine.start_from(image)
        outs.append(engine.generate())
    assert (outs[0] - outs[1]).abs().mean() > 1e-4


def test_text_to_video_needs_a_size_first_then_streams_with_one_cache() -> None:
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="a night landscape", seed=1))
    with pytest.raises(ValueError, match="size"):
        engine.generate()
    first = engine.generate(size=(64, 64))
    assert first.shape == (1, 3, 64, 64)  # one latent frame per block: the first chunk is one frame
    cache = engine.cache
    storage = cache.k.data_ptr()
    frames = [engine.generate() for _ in range(20)]
    assert all(f.shape == (4, 3, 64, 64) for f in frames) and engine.cache is cache
    assert cache.k.data_ptr() == storage and cache.frames_written == 21  # the rolling cache never reallocates
    again = StreamEngine(bundle, EngineConfig(prompt="a night landscape", seed=1))
    torch.testing.assert_close(again.generate(size=(64, 64)), first)  # the same seed, the same video


def test_a_prompt_change_while_generating_blends_in_without_a_reset() -> None:
    bundle = random_bundle()
    config = EngineConfig(prompt="a realistic landscape", prompt_blend_chunks=2)
    engine = StreamEngine(bundle, config)
    engine.generate(size=(64, 64))
    cache = engine.cache
    engine.set_prompt("a toon landscape")
    target = engine._embed("a toon landscape")
    engine.generate()
    assert not torch.equal(engine._context, target)  # halfway
    engine.generate()
    assert torch.equal(engine._context, target) and engine.cache is cache and engine._chunks == 3


def test_a_source_model_is_told_no_source_when_generating() -> None:
    import dataclasses

    from v2v.models.dit import DiT

    bundle = random_bundle()
    dit = DiT(dataclasses.replace(bundle.dit.config, source_channels=bundle.dit.config.in_dim)).load_plain(
        bundle.dit.state_dict()
    )
    torch.nn.init.normal_(dit.source_embedding.weight)  # a trained source embedding: the source would show
    told = []
    forward = dit.forward

    def spy(*args, source=None, **kwargs):
        told.append(source)
        return forward(*args, source=source, **kwargs)

    dit.forward = spy
    bundle = dataclasses.replace(bundle, dit=dit)
    engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape"))
    engine.start_from(_image())
    assert told[-1] is not None and told[-1].abs().sum() > 0  # the still itself is its clean pass's source
    engine.generate()
    assert all(s is not None and (s == 0).all() for s in told[1:])
