"""The source-conditioned recipe (v2v/train/conditional.py, `TrainConfig.conditional`): the pair sampler, the one
CFG closure, the rollouts with a source, and the tiny recipe end to end with the switch on."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from tests.v2v.micro import micro_dit
from v2v.models.bundle import load_bundle
from v2v.train import data
from v2v.train.common import ConditionalConfig, TrainConfig, build_dit, load_ckpt, stage_steps, tiny_config
from v2v.train.conditional import REAL, RealLatents, encode_clips, plan_pairs
from v2v.train.teacher import LatentCache, cfg_flow, teacher_batch


def fake_cache(scenes=4, styles=("blocky", "realistic", "sketch"), seed=123):
    g = torch.Generator().manual_seed(seed)
    return LatentCache(
        torch.randn(scenes, len(styles), 4, 2, 8, 8, generator=g).half(), list(range(scenes)), list(styles)
    )


def real_items():
    from v2v.train.real_data import RealItem

    rng = np.random.default_rng(0)
    return [
        RealItem("photo", rng.integers(0, 255, (1, 48, 48, 3), dtype=np.uint8)),
        RealItem("clip", rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8)),
    ]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """`train all` on the tiny preset with the conditional recipe on (real clips from two synthetic sources)."""
    from v2v.train import real_data
    from v2v.train.cli import main

    workdir = tmp_path_factory.mktemp("conditional")
    config = dataclasses.replace(
        tiny_config(tuple(data.VOCAB)), conditional=ConditionalConfig(source=True, real=0.5, real_clips=3)
    )
    (workdir / "run.json").write_text(json.dumps(config.to_json()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(real_data, "load_real", lambda split: real_items())
        assert main(["all", "--workdir", str(workdir), "--out", str(workdir / "bundle")]) == 0
    return workdir, workdir / "bundle"


def test_the_switch_is_off_by_default_and_round_trips_through_run_json():
    config = tiny_config(tuple(data.VOCAB))
    assert not config.conditional.source
    assert build_dit(config, causal=True).source_embedding is None
    on = dataclasses.replace(config, conditional=ConditionalConfig(source=True, identity=0.3, source_dropout=0.05))
    back = TrainConfig.from_json(json.loads(json.dumps(on.to_json())))
    assert back == on and isinstance(back.conditional, ConditionalConfig)
    for causal in (False, True):
        assert build_dit(on, causal).config.source_channels == on.vae.z_dim
    assert TrainConfig.from_json({k: v for k, v in config.to_json().items() if k != "conditional"}) == config


def test_teacher_pairs_are_identity_exactly_when_the_caption_is_empty_and_drop_the_source_at_its_rate():
    cache = fake_cache()
    cond = ConditionalConfig(source=True, identity=0.0, source_dropout=0.25)
    pairs = plan_pairs(
        cache,
        None,
        cond,
        np.random.default_rng(0),
        1200,
        caption_dropout=0.3,
        caption_short=0.5,
        source_dropout=cond.source_dropout,
        restyle_real=False,
    )
    sourced = [p for p in pairs if p.source is not None]
    assert abs(1 - len(sourced) / len(pairs) - 0.25) < 0.04
    assert all(p.identity == (p.prompt == "") for p in sourced)
    assert abs(sum(p.prompt == "" for p in sourced) / len(sourced) - 0.3) < 0.05
    assert all(p.source[0] == p.target[0] for p in sourced)  # the same scene, always
    some = ConditionalConfig(source=True, identity=0.2, source_dropout=0.0)
    pairs = plan_pairs(
        cache,
        None,
        some,
        np.random.default_rng(1),
        1200,
        caption_dropout=0.0,
        caption_short=0.5,
        source_dropout=0.0,
        restyle_real=False,
    )
    assert all(p.prompt for p in pairs) and abs(sum(p.identity for p in pairs) / len(pairs) - 0.2) < 0.04


def test_teacher_batch_gives_the_latents_the_pairs_name_at_one_crop():
    cache = fake_cache()
    config = dataclasses.replace(
        TrainConfig(caption_dropout=0.5), conditional=ConditionalConfig(source=True, identity=0.0, source_dropout=0.3)
    )
    z, source, prompts = teacher_batch(cache, None, config, np.random.default_rng(2), 64, crop=4)
    assert z.shape == source.shape == (64, 4, 2, 4, 4)
    none = source.flatten(1).abs().amax(1) == 0
    same = (z - source).flatten(1).abs().amax(1) == 0
    assert none.any() and same.any() and (~none & ~same).any()
    assert all((p == "") == bool(s) for p, s, n in zip(prompts, same, none, strict=True) if not n)
    windows = cache.latents.float().unfold(-2, 4, 1).unfold(-2, 4, 1)  # [N, S, z, F, 5, 5, 4, 4]
    for b in range(4):
        match = (windows - z[b][None, None, :, :, None, None]).abs().amax(dim=(2, 3, 6, 7)) < 1e-6
        assert match.any()


def test_real_clips_are_identity_pairs_in_the_teacher_and_restyled_in_the_distillation():
    cache = fake_cache()
    real = RealLatents(torch.randn(3, 4, 2, 8, 8).half(), [True, False, False], ["photo", "bunny", "doom"])
    cond = ConditionalConfig(source=True, real=0.4)
    kept = plan_pairs(
        cache,
        real,
        cond,
        np.random.default_rng(3),
        600,
        caption_dropout=0.1,
        caption_short=0.5,
        source_dropout=0.1,
        restyle_real=False,
    )
    reals = [p for p in kept if p.target is not None and p.target[0] == REAL]
    assert abs(len(reals) / len(kept) - 0.4) < 0.06 and all(p.identity for p in reals)
    photos = [p for p in reals if p.target[1] == 0]
    assert all(p.prompt == "" for p in reals if p.target[1] != 0)
    assert {p.prompt == "" for p in photos} == {True, False}
    realistic = {data.short_caption("realistic", np.random.default_rng(i)) for i in range(200)}
    assert all(p.prompt in realistic | {""} for p in photos)
    restyled = plan_pairs(
        cache,
        real,
        cond,
        np.random.default_rng(4),
        200,
        caption_dropout=0.0,
        caption_short=0.5,
        source_dropout=0.0,
        restyle_real=True,
    )
    moved = [p for p in restyled if p.source[0] == REAL]
    assert moved and all(p.target is None and p.prompt for p in moved)
    none = plan_pairs(
        cache,
        None,
        cond,
        np.random.default_rng(4),
        50,
        caption_dropout=0.0,
        caption_short=0.5,
        source_dropout=0.0,
        restyle_real=True,
    )
    assert all(p.source[0] != REAL for p in none)  # no real latents: none drawn


def test_the_one_cfg_closure_with_guidance_1_is_the_conditional_branch():
    from v2v.train import dmd, ode, report_teacher, teacher

    assert dmd.cfg_flow is ode.cfg_flow is report_teacher.cfg_flow is teacher.cfg_flow
    dit = micro_dit(source_channels=2)
    torch.nn.init.normal_(dit.source_embedding.weight)
    x, t, cond = torch.randn(2, 2, 2, 4, 4), torch.tensor([300.0, 700.0]), torch.randn(2, 4, 8)
    source = torch.randn(2, 2, 2, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(cfg_flow(dit, cond, 1.0, source=source)(x, t), dit(x, t, cond, source=source))
        torch.testing.assert_close(
            cfg_flow(dit, cond, 0.0, source=source)(x, t), dit(x, t, torch.zeros_like(cond), source=source)
        )
        empty = torch.randn(1, 4, 8)
        torch.testing.assert_close(cfg_flow(dit, cond, 0.0, uncond=empty)(x, t), dit(x, t, empty.expand_as(cond)))
        guided = cfg_flow(dit, cond, 3.0, source=source)(x, t)
        assert (guided - cfg_flow(dit, cond, 3.0)(x, t)).abs().max() > 1e-3  # the source reaches both branches


def test_self_forcing_rollout_with_a_source_is_the_engine_loop():
    """Each block is told the source frames it sees, as the engine tells each chunk its own clean latents."""
    from v2v.sampling import x0_from_flow
    from v2v.train.dmd import rollout_self_forcing

    dit = micro_dit(causal=True, frames_per_block=1, source_channels=2)
    torch.nn.init.normal_(dit.source_embedding.weight)
    x_t, ctx, source, t = torch.randn(1, 2, 3, 4, 4), torch.randn(1, 4, 8), torch.randn(1, 2, 3, 4, 4), 600.0
    with torch.no_grad():
        ours, _ = rollout_self_forcing(dit, ctx, x_t, [t], torch.Generator(), grad=False, source=source)
        cache = dit.new_cache(1, frame_tokens=4, window_frames=8, sink_frames=0)
        streamed = []
        for k in range(3):
            xk, sk = x_t[:, :, k : k + 1], source[:, :, k : k + 1]
            x0 = x0_from_flow(xk, dit(xk, torch.full((1,), t), ctx, cache=cache, source=sk), t / 1000)
            dit(x0, torch.zeros(1), ctx, cache=cache, write_cache=True, source=sk)
            streamed.append(x0)
        blind, _ = rollout_self_forcing(dit, ctx, x_t, [t], torch.Generator(), grad=False)
    torch.testing.assert_close(ours, torch.cat(streamed, dim=2), rtol=1e-4, atol=1e-4)
    assert (ours - blind).abs().max() > 1e-3


def test_dmd_starts_tell_the_source_and_drop_it_on_noise_starts_at_the_rate():
    from v2v.train.dmd import generator_inputs

    class Text(torch.nn.Module):
        def encode(self, prompts):
            return torch.zeros(len(prompts), 2, 4)

    cache = fake_cache()
    config = dataclasses.replace(
        TrainConfig(dmd_batch=4), conditional=ConditionalConfig(source=True, identity=0.0, source_dropout=0.5)
    )
    rng, gen, told, kinds = np.random.default_rng(0), torch.Generator().manual_seed(0), [], set()
    for _ in range(60):
        x_t, ctx, steps, target, source = generator_inputs(cache, config, rng, gen, Text(), None)
        assert source.shape == x_t.shape == (4, 4, 2, 8, 8)
        kinds.add(steps[0] == 1000.0)
        if steps[0] == 1000.0:
            assert target is None
            told += (source.flatten(1).abs().amax(1) > 0).tolist()
            continue
        assert target is not None and steps[0] < 1000.0
        assert ((target - source).flatten(1).abs().amax(1) > 0).all()  # another style of the scene
        assert (x_t * source).sum() > (x_t * target).sum()  # x_t is the source noised
    assert kinds == {True, False} and 0.35 < sum(told) / len(told) < 0.65


def test_encode_clips_is_the_vae_encoder_batched():
    from v2v.models.tiny_vae import TinyVAE
    from v2v.pixels import to_float

    vae = TinyVAE(tiny_config(tuple(data.VOCAB)).vae).eval()
    clips = [np.random.default_rng(i).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8) for i in range(10)]
    z = encode_clips(vae, clips)
    assert z.shape == (10, vae.z_dim, 2, 2, 2) and z.dtype == torch.float16
    with torch.no_grad():
        torch.testing.assert_close(z[9], vae.encode(to_float(clips[9]).transpose(0, 1)[None])[0].half())


def test_conditional_recipe_runs_end_to_end_and_its_bundle_restyles_with_the_source(conditional_run):
    from v2v.engine import EngineConfig, StreamEngine

    workdir, out = conditional_run
    config = TrainConfig.from_json(json.loads((workdir / "run.json").read_text()))
    for stage in ("teacher", "ode", "dmd", "adapt"):
        assert load_ckpt(workdir / stage / "ckpt.pt")["step"] == stage_steps(config, stage)
    teacher = load_ckpt(workdir / "teacher" / "ckpt.pt")["model"]["dit.source_embedding.weight"]
    assert teacher.abs().max() > 0  # the teacher learns to use it
    distilled = load_ckpt(workdir / "dmd" / "ckpt.pt")
    for part in ("student", "student_ema", "critic"):  # the generator and the fake score are told the source too
        assert distilled[part]["source_embedding.weight"].shape == teacher.shape
    real = RealLatents.load(workdir)
    assert real is not None and real.latents.shape == (3, 4, 2, 4, 4) and set(real.names) <= {"photo", "clip"}
    pairs = load_ckpt(workdir / "ode" / "pairs.pt")
    assert any(p["source"].shape == p["x0"].shape for p in pairs if "source" in p)
    assert json.loads((out / "config.json").read_text())["dit"]["source_channels"] == 4
    assert json.loads((out / "teacher.json").read_text())["dit"]["source_channels"] == 4
    bundle = load_bundle(out)
    assert bundle.dit.config.source_channels == bundle.vae.z_dim
    video = torch.from_numpy(data.render_clip(data.sample_scene(7), "blocky", 9, (32, 32))).permute(0, 3, 1, 2)
    video = video.float() / 127.5 - 1.0  # [T, 3, H, W]

    def restyle():
        engine = StreamEngine(bundle, EngineConfig(prompt=data.style_prompt("realistic"), strength=0.7))
        return torch.cat([engine.push(video), engine.flush()])

    torch.nn.init.normal_(bundle.dit.source_embedding.weight)
    told = restyle()
    assert told.shape == video.shape and torch.isfinite(told).all()
    torch.nn.init.zeros_(bundle.dit.source_embedding.weight)
    assert (told - restyle()).abs().max() > 1e-3  # the engine tells it the source
