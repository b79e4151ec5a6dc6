"""The `dmd` stage (v2v/train/dmd.py): its phases, score timesteps, rollouts, generator inputs and the options
that steer a run."""

import dataclasses
import json

import numpy as np
import torch

from tests.v2v.train.helpers import run_config, tiny_causal_dit
from v2v.sampling import sample_train_timesteps, x0_from_flow
from v2v.train import dmd
from v2v.train.cli import main
from v2v.train.common import DMD_T_MAX, DMD_T_MIN, TrainConfig, load_ckpt
from v2v.train.dmd import (
    dmd_timesteps,
    generator_inputs,
    phase,
    rollout,
    rollout_paired_loss,
    rollout_self_forcing,
)
from v2v.train.teacher import LatentCache


def test_the_phase_follows_the_switch_steps_of_the_configuration():
    """A parallel run switches to self-forcing (with the paired weight after the switch) at
    dmd_self_forcing_from, and the rollout-paired term comes in at dmd_rollout_paired_from; a run told
    self_forcing stays so, and a switch at or past the end never comes. The default recipe passes through all
    three phases in that order."""
    c = dataclasses.replace(
        TrainConfig(),
        dmd_steps=30,
        dmd_self_forcing_from=10,
        dmd_rollout_paired_from=20,
        dmd_paired=0.2,
        dmd_paired_self_forcing=0.6,
        dmd_rollout_paired=1.5,
    )
    assert [phase(c, s) for s in (0, 9, 10, 19, 20, 29)] == (
        [("parallel", 0.2, 0.0)] * 2 + [("self_forcing", 0.6, 0.0)] * 2 + [("self_forcing", 0.6, 1.5)] * 2
    )
    sf = dataclasses.replace(c, dmd_rollout="self_forcing", dmd_paired=0.3)
    assert phase(sf, 0) == phase(sf, 15) == ("self_forcing", 0.3, 0.0)
    never = dataclasses.replace(c, dmd_self_forcing_from=c.dmd_steps)
    assert phase(never, c.dmd_steps - 1) == ("parallel", 0.2, 1.5)
    late = dataclasses.replace(c, dmd_rollout_paired_from=25)
    assert [phase(late, s)[2] for s in (0, 24, 25)] == [0.0, 0.0, 1.5]
    default = TrainConfig()
    seen = list(dict.fromkeys(phase(default, s) for s in range(default.dmd_steps)))
    assert [(mode, rolled > 0) for mode, _, rolled in seen] == [
        ("parallel", False),
        ("self_forcing", False),
        ("self_forcing", True),
    ]


def test_a_run_records_the_phases_it_ran_and_restarts_the_ema_at_the_switch(run):
    workdir, _ = run
    c = run_config(workdir)
    assert 0 < c.dmd_self_forcing_from < c.dmd_rollout_paired_from < c.dmd_steps  # the tiny run sees every phase
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["phases"] == [
        [0, "parallel", c.dmd_paired, 0.0],
        [c.dmd_self_forcing_from, "self_forcing", c.dmd_paired_self_forcing, 0.0],
        [c.dmd_rollout_paired_from, "self_forcing", c.dmd_paired_self_forcing, c.dmd_rollout_paired],
    ]
    assert state["ema_from"] == c.dmd_self_forcing_from


def test_score_timesteps_are_the_shifted_law_clamped_to_causvids_range():
    config = TrainConfig()
    drawn = dmd_timesteps(4096, config, torch.Generator().manual_seed(3))
    same = sample_train_timesteps(
        [4096], config.sampling.shift, generator=torch.Generator().manual_seed(3), low=DMD_T_MIN, high=DMD_T_MAX
    )
    assert torch.equal(drawn, same)
    assert float(drawn.min()) >= DMD_T_MIN and float(drawn.max()) <= DMD_T_MAX
    assert (drawn > 600).float().mean() > 0.7  # shift 5 puts most of the comparisons at high noise


def test_self_forcing_rollout_is_the_engine_loop():
    """dmd_rollout "self_forcing": frame by frame, each frame denoised while attending to the student's
    own clean outputs of the earlier frames, exactly as the engine streams with its KV cache (one step
    here, so no re-noising draws differ)."""
    torch.manual_seed(0)
    dit = tiny_causal_dit(frames_per_block=1)
    x_t, ctx, t = torch.randn(1, 2, 3, 4, 4), torch.randn(1, 4, 8), 600.0
    with torch.no_grad():
        ours, last = rollout_self_forcing(dit, ctx, x_t, [t], torch.Generator().manual_seed(0), grad=False)
        cache = dit.new_cache(1, frame_tokens=4, window_frames=8, sink_frames=0)
        streamed = []
        for k in range(3):
            xk = x_t[:, :, k : k + 1]
            x0 = x0_from_flow(xk, dit(xk, torch.full((1,), t), ctx, cache=cache, write_cache=False), t / 1000)
            dit(x0, torch.zeros(1), ctx, cache=cache, write_cache=True)  # the clean pass writes the cache
            streamed.append(x0)
        parallel, _ = rollout(dit, ctx, x_t, [t], torch.Generator().manual_seed(0), grad=False)
    assert last == t
    torch.testing.assert_close(ours, torch.cat(streamed, dim=2), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(parallel[:, :, :1], ours[:, :, :1], rtol=1e-4, atol=1e-4)
    assert (parallel[:, :, 1:] - ours[:, :, 1:]).abs().max() > 1e-3  # CausVid's rollout sees noisy history


def test_self_forcing_rollout_goes_block_by_block():
    """frames_per_block 2: a 4-frame clip is two blocks; the second sees the first's clean output."""
    torch.manual_seed(1)
    dit = tiny_causal_dit(frames_per_block=2)
    x_t, ctx = torch.randn(1, 2, 4, 4, 4), torch.randn(1, 4, 8)
    with torch.no_grad():
        ours, _ = rollout_self_forcing(dit, ctx, x_t, [600.0], torch.Generator().manual_seed(0), grad=False)
        parallel, _ = rollout(dit, ctx, x_t, [600.0], torch.Generator().manual_seed(0), grad=False)
        first = rollout_self_forcing(dit, ctx, x_t[:, :, :2], [600.0], torch.Generator(), grad=False)[0]
    assert ours.shape == x_t.shape
    torch.testing.assert_close(ours[:, :, :2], parallel[:, :, :2], rtol=1e-4, atol=1e-4)  # one block: the same
    torch.testing.assert_close(ours[:, :, :2], first, rtol=1e-4, atol=1e-4)  # later frames do not leak back
    assert (parallel[:, :, 2:] - ours[:, :, 2:]).abs().max() > 1e-3


def test_rollout_paired_targets_the_true_restyle_at_the_same_crop():
    """A video-to-video start comes with the target style's latents of the same scene and crop (so the
    term is the true restyle of the input); a pure-noise start has none. The loss is 0 on the target
    and sees a jump between frames that the plain MSE weighs like any offset."""
    torch.manual_seed(0)
    cache = LatentCache(torch.randn(3, 2, 4, 3, 8, 8).half(), [1, 2, 3], ["blocky", "realistic"])

    class Text(torch.nn.Module):
        def encode(self, prompts):
            return torch.zeros(len(prompts), 2, 4)

    rng, gen, seen = np.random.default_rng(0), torch.Generator().manual_seed(0), set()
    for _ in range(12):
        x_t, ctx, steps, target, source = generator_inputs(cache, TrainConfig(dmd_batch=2), rng, gen, Text(), 4)
        assert source is None  # the plain recipe tells no source
        seen.add(target is None)
        assert x_t.shape == (2, 4, 3, 4, 4) and ctx.shape == (2, 2, 4)
        if target is None:
            assert steps[0] == 1000.0
            continue
        assert target.shape == x_t.shape and steps[0] < 1000.0
        # each target is one cached scene in one style, cropped where its source was
        for b in range(2):
            windows = cache.latents.float().unfold(-2, 4, 1).unfold(-2, 4, 1)  # [N, S, z, F, 5, 5, 4, 4]
            match = (windows - target[b][None, None, :, :, None, None]).abs().amax(dim=(2, 3, 6, 7)) < 1e-6
            assert match.any()
    assert seen == {True, False}
    target = torch.randn(1, 4, 3, 4, 4)
    assert rollout_paired_loss(target, target).item() == 0.0
    offset = rollout_paired_loss(target + 0.5, target).item()  # same change from frame to frame
    jump = target.clone()
    jump[:, :, 2:] += 0.5 * (3 / 1) ** 0.5  # the same MSE, all of it in one jump
    assert abs(offset - 0.25) < 1e-5
    assert rollout_paired_loss(jump, target).item() > offset + 0.2


def test_the_rollout_paired_weight_is_an_option_the_run_keeps(run_copy):
    workdir, _ = run_copy
    step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    assert main(["dmd", "--workdir", str(workdir), "--steps", str(step + 4), "--rollout-paired", "2"]) == 0
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == step + 4
    config = run_config(workdir)
    assert config.dmd_rollout_paired == 2.0
    assert state["phases"][-1] == [step, *phase(config, step)] and phase(config, step)[2] == 2.0


def test_dmd_real_score_guidance_and_paired_weight_after_the_switch_are_options(run_copy, monkeypatch):
    """--dmd-guidance sets the CFG scale of the real score only (the ODE pairs keep `guidance`);
    --paired-self-forcing the paired weight once the self-forcing rollout runs."""
    workdir, _ = run_copy
    step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    teacher_guidance = run_config(workdir).guidance
    scales = []
    real_cfg_flow, real_timesteps, drawn = dmd.cfg_flow, dmd.dmd_timesteps, []
    monkeypatch.setattr(
        dmd, "cfg_flow", lambda dit, ctx, scale, **kw: scales.append(scale) or real_cfg_flow(dit, ctx, scale, **kw)
    )
    monkeypatch.setattr(dmd, "dmd_timesteps", lambda *a: drawn.append(real_timesteps(*a)) or drawn[-1])
    argv = ["dmd", "--workdir", str(workdir), "--steps", str(step + 3), "--dmd-guidance", "1.5"]
    assert main([*argv, "--paired-self-forcing", "2"]) == 0
    saved = json.loads((workdir / "run.json").read_text())
    assert (saved["dmd_guidance"], saved["dmd_paired_self_forcing"], saved["guidance"]) == (1.5, 2.0, teacher_guidance)
    assert scales and set(scales) == {1.5}
    assert drawn and max(float(t.max()) for t in drawn) <= DMD_T_MAX
    config = run_config(workdir)
    assert dmd.dmd_guidance(dataclasses.replace(config, dmd_guidance=None)) == config.guidance
    parallel = dataclasses.replace(config, dmd_rollout="parallel")
    assert dmd.phase(parallel, config.dmd_self_forcing_from)[:2] == ("self_forcing", 2.0)
    assert load_ckpt(workdir / "dmd" / "ckpt.pt")["phases"][-1][2] == 2.0  # the steps it ran used the new weight


def test_a_run_told_self_forcing_never_rolls_out_in_parallel_and_its_ema_lags(run_copy, monkeypatch):
    workdir, _ = run_copy
    step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    calls = []
    for name in ("rollout", "rollout_self_forcing"):
        real = getattr(dmd, name)
        monkeypatch.setattr(dmd, name, lambda *a, _real=real, _name=name, **kw: calls.append(_name) or _real(*a, **kw))
    argv = ["dmd", "--workdir", str(workdir), "--steps", str(step + 3), "--rollout", "self_forcing"]
    assert main([*argv, "--paired-weight", "0.3", "--self-forcing-from", "100"]) == 0  # a parallel run: no switch
    assert calls == ["rollout_self_forcing"] * 3
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    config = run_config(workdir)
    assert state["step"] == step + 3 and config.dmd_rollout == "self_forcing"
    assert state["phases"][-1] == [step, "self_forcing", 0.3, config.dmd_rollout_paired]
    moved = [k for k in state["student"] if not torch.equal(state["student"][k], state["student_ema"][k])]
    assert moved  # the EMA lags the generator
