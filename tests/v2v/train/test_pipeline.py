"""The training pipeline end to end on the tiny preset: every stage runs a few steps, resumes, exports."""

import json
import shutil

import pytest
import torch

from v2v.models.bundle import load_bundle
from v2v.train.cli import main
from v2v.train.common import DMD_T_MAX, draw_seed, load_ckpt, resolve_device


def test_every_stage_leaves_a_checkpoint_and_a_log(run):
    workdir, _ = run
    for stage, steps in (("vae", 3), ("decoder", 2), ("teacher", 3), ("ode", 3), ("dmd", 4), ("adapt", 2)):
        state = load_ckpt(workdir / stage / "ckpt.pt")
        assert state["step"] == steps
        assert "finished at step" in (workdir / stage / "log.txt").read_text()
    config = json.loads((workdir / "run.json").read_text())
    assert config["size"] == [32, 32]
    dmd_log = (workdir / "dmd" / "log.txt").read_text()  # the tiny recipe switches rollouts at step 2 of 4
    assert "parallel rollout, paired 0.25, self_forcing with paired 0.5 from step 2" in dmd_log
    assert "step 2: self-forcing rollout from here, paired 0.5; the EMA restarts" in dmd_log


def test_dmd_phases_follow_the_shipped_recipe():
    """One `train dmd` reproduces the shipped student: 1500 parallel steps with paired weight 0.25, then
    self-forcing with 0.5, and the rollout-paired term (weight 1) from step 2176 to 2800; a run told
    self_forcing stays so, and a switch at or past the end never comes."""
    import dataclasses

    from v2v.train.common import TrainConfig
    from v2v.train.dmd import phase

    c = TrainConfig()
    assert (c.ode_steps, c.dmd_steps) == (3000, 2800)
    assert [phase(c, s) for s in (0, 1499, 1500, 2175, 2176, 2799)] == (
        [("parallel", 0.25, 0.0)] * 2 + [("self_forcing", 0.5, 0.0)] * 2 + [("self_forcing", 0.5, 1.0)] * 2
    )
    sf = dataclasses.replace(c, dmd_rollout="self_forcing", dmd_paired=0.3)
    assert phase(sf, 0) == phase(sf, 2000) == ("self_forcing", 0.3, 0.0)
    never = dataclasses.replace(c, dmd_self_forcing_from=c.dmd_steps)
    assert phase(never, c.dmd_steps - 1) == ("parallel", 0.25, 1.0)
    late = dataclasses.replace(c, dmd_rollout_paired_from=2000)
    assert [phase(late, s)[2] for s in (0, 1999, 2000)] == [0.0, 0.0, 1.0]


def test_rerun_resumes_and_more_steps_continue_the_counter(run):
    workdir, _ = run
    assert main(["teacher", "--workdir", str(workdir)]) == 0
    assert "already trained" in (workdir / "teacher" / "log.txt").read_text()
    assert main(["ode", "--workdir", str(workdir), "--steps", "5"]) == 0
    state = load_ckpt(workdir / "ode" / "ckpt.pt")
    assert state["step"] == 5
    assert "start at step 3/5" in (workdir / "ode" / "log.txt").read_text()


def test_export_writes_a_bundle_that_loads_and_restyles(run):
    _, out = run
    assert {p.name for p in out.iterdir()} >= {"config.json", "dit.safetensors", "vae.safetensors", "text.safetensors"}
    bundle = load_bundle(out)
    assert bundle.size == (32, 32) and bundle.dit.config.causal
    z = bundle.vae.encode(torch.zeros(1, 3, 5, 32, 32))
    ctx = bundle.text.encode(["realistic"])
    flow = bundle.dit(z, torch.full((1, 2), 500.0), ctx)
    assert flow.shape == z.shape and torch.isfinite(flow).all()
    assert len(bundle.vae.config.latent_std) == bundle.vae.z_dim


def test_decoder_and_adapt_stages_train_the_decoder_only_and_export_ships_adapt(run):
    workdir, out = run
    vae, tuned, adapted = (load_ckpt(workdir / s / "ckpt.pt") for s in ("vae", "decoder", "adapt"))
    for before, after in ((vae, tuned), (tuned, adapted)):
        changed = {k for k in before["vae"] if not torch.equal(before["vae"][k], after["vae"][k])}
        assert changed and all(k.startswith(("group_decoder.", "frame_decoder.")) for k in changed)
        assert after["vae_config"]["latent_std"] == vae["vae_config"]["latent_std"]
    shipped = load_bundle(out).vae.state_dict()
    assert all(torch.equal(shipped[k], adapted["vae"][k]) for k in shipped)


def test_adapt_records_the_engines_latents_with_the_target_style_render(run):
    """The rollouts are what the engine decodes: decoding the recorded latents with a fresh stream decoder
    gives the engine's output, and every clip comes with its target-style render."""
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.train import data
    from v2v.train.adapt_stage import ROLLOUT_FRAMES, adapted_student, rollouts_path
    from v2v.train.export import build_bundle

    workdir, out = run
    rec = torch.load(rollouts_path(workdir), weights_only=True)
    assert rec["latents"].shape == (2, 4, 5, 4, 4) and rec["frames"].shape == (2, ROLLOUT_FRAMES, 32, 32, 3)
    assert adapted_student(workdir) == rec["student"] == "'dmd' step 4 (EMA)"
    seed, source, target, start, strength = rec["meta"][0]
    assert source != target and 0.5 < strength < 0.9
    clips = data.render_styles(data.sample_scene(seed), (source, target), ROLLOUT_FRAMES, (32, 32), start=start)
    assert torch.equal(rec["frames"][0], torch.from_numpy(clips[target]))
    device = resolve_device("auto")  # where the run recorded them: CPU and GPU arithmetic differ in the last bits
    bundle, _ = build_bundle(workdir, load_ckpt_config(workdir))
    bundle.to(device)
    seen = []
    engine = StreamEngine(
        load_bundle(out, device=device),
        EngineConfig(prompt=data.style_prompt(target), strength=strength, seed=seed),
        on_latents=seen.append,
    )
    video = data.to_model_video(clips[source]).transpose(0, 1).to(device)  # [T, 3, H, W]
    output = torch.cat([engine.push(video), engine.flush()])
    z = torch.cat(seen, dim=2)  # [1, z, 5, h, w]
    torch.testing.assert_close(z[0].half().cpu(), rec["latents"][0])
    torch.testing.assert_close(bundle.vae.stream_decoder()(z)[0].transpose(0, 1), output)


def load_ckpt_config(workdir):
    from v2v.train.common import TrainConfig

    return TrainConfig.from_json(json.loads((workdir / "run.json").read_text()))


def test_decoder_loss_sees_motion_the_clip_does_not_have():
    from v2v.train.decoder_stage import temporal_l1

    still = torch.zeros(1, 3, 5, 8, 8)
    shimmer = still.clone()
    shimmer[:, :, 1::2] += 0.5
    assert temporal_l1(still, still) == 0
    assert temporal_l1(shimmer, still) > 0.4
    assert temporal_l1(shimmer + 1, shimmer) == 0  # a constant offset is not a temporal error


def test_still_clips_repeat_one_frame_of_their_own_clip():
    import numpy as np

    from v2v.train.decoder_stage import with_still_clips

    video = torch.rand(64, 3, 5, 4, 4)
    out = with_still_clips(video, np.random.default_rng(0), share=0.5)
    still = [b for b in range(64) if torch.equal(out[b], out[b, :, :1].expand(-1, 5, -1, -1))]
    assert 16 < len(still) < 48
    for b in still:
        assert any(torch.equal(out[b, :, 0], video[b, :, t]) for t in range(5))
    moving = [b for b in range(64) if b not in still]
    assert all(torch.equal(out[b], video[b]) for b in moving)


def test_missing_upstream_stage_is_a_clear_error(tmp_path, capsys):
    assert main(["ode", "--preset", "tiny", "--workdir", str(tmp_path)]) == 1
    assert "run `python -m v2v train teacher" in capsys.readouterr().err


def test_self_forcing_rollout_is_the_engine_loop():
    """dmd_rollout "self_forcing": frame by frame, each frame denoised while attending to the student's
    own clean outputs of the earlier frames, exactly as the engine streams with its KV cache (one step
    here, so no re-noising draws differ)."""
    from v2v.models.dit import DiT, DiTConfig
    from v2v.sampling import x0_from_flow
    from v2v.train.dmd import rollout, rollout_self_forcing

    torch.manual_seed(0)
    dit = DiT(
        DiTConfig(
            dim=16,
            ffn_dim=16,
            freq_dim=8,
            text_dim=8,
            in_dim=2,
            out_dim=2,
            num_heads=2,
            num_layers=2,
            text_len=4,
            causal=True,
            frames_per_block=1,
        )
    ).eval()
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
    from v2v.models.dit import DiT, DiTConfig
    from v2v.train.dmd import rollout, rollout_self_forcing

    torch.manual_seed(1)
    dit = DiT(
        DiTConfig(
            dim=16,
            ffn_dim=16,
            freq_dim=8,
            text_dim=8,
            in_dim=2,
            out_dim=2,
            num_heads=2,
            num_layers=2,
            text_len=4,
            causal=True,
            frames_per_block=2,
        )
    ).eval()
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
    from v2v.train.common import TrainConfig
    from v2v.train.dmd import generator_inputs, rollout_paired_loss
    from v2v.train.teacher import LatentCache

    torch.manual_seed(0)
    cache = LatentCache(torch.randn(3, 2, 4, 3, 8, 8).half(), [1, 2, 3], ["blocky", "realistic"])

    class Text(torch.nn.Module):
        def encode(self, prompts):
            return torch.zeros(len(prompts), 2, 4)

    import numpy as np

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


def test_dmd_with_the_rollout_paired_term_runs_and_says_so(run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(run[0], workdir)
    step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    assert main(["dmd", "--workdir", str(workdir), "--steps", str(step + 4), "--rollout-paired", "1"]) == 0
    assert load_ckpt(workdir / "dmd" / "ckpt.pt")["step"] == step + 4
    assert json.loads((workdir / "run.json").read_text())["dmd_rollout_paired"] == 1.0
    assert "rollout-paired 1.0" in (workdir / "dmd" / "log.txt").read_text()


def test_dmd_real_score_guidance_and_paired_weight_after_the_switch_are_options(run, tmp_path, monkeypatch):
    """--dmd-guidance sets the CFG scale of the real score only (the ODE pairs keep `guidance`);
    --paired-self-forcing the paired weight once the self-forcing rollout runs."""
    import dataclasses

    import v2v.train.dmd as dmd

    workdir = tmp_path / "run"
    shutil.copytree(run[0], workdir)
    step = load_ckpt(workdir / "dmd" / "ckpt.pt")["step"]
    teacher_guidance = json.loads((workdir / "run.json").read_text())["guidance"]
    scales = []
    real_cfg_flow, real_timesteps, drawn = dmd.cfg_flow, dmd.dmd_timesteps, []
    monkeypatch.setattr(
        dmd, "cfg_flow", lambda dit, ctx, scale, **kw: scales.append(scale) or real_cfg_flow(dit, ctx, scale, **kw)
    )
    monkeypatch.setattr(dmd, "dmd_timesteps", lambda *a: drawn.append(real_timesteps(*a)) or drawn[-1])
    assert (
        main(
            [
                "dmd",
                "--workdir",
                str(workdir),
                "--steps",
                str(step + 3),
                "--dmd-guidance",
                "1.5",
                "--paired-self-forcing",
                "2",
            ]
        )
        == 0
    )
    saved = json.loads((workdir / "run.json").read_text())
    assert (saved["dmd_guidance"], saved["dmd_paired_self_forcing"], saved["guidance"]) == (1.5, 2.0, teacher_guidance)
    assert scales and set(scales) == {1.5}
    assert drawn and max(float(t.max()) for t in drawn) <= DMD_T_MAX
    assert f"real-score CFG 1.5, scores at t ≤ {DMD_T_MAX:g}" in (workdir / "dmd" / "log.txt").read_text()
    config = load_ckpt_config(workdir)
    assert dmd.dmd_guidance(dataclasses.replace(config, dmd_guidance=None)) == config.guidance
    parallel = dataclasses.replace(config, dmd_rollout="parallel")
    assert dmd.phase(parallel, config.dmd_self_forcing_from)[:2] == ("self_forcing", 2.0)


def test_dmd_keeps_an_ema_that_export_ships(run, tmp_path, capsys):
    from safetensors.torch import load_file

    workdir, _ = run
    assert (
        main(["dmd", "--workdir", str(workdir), "--steps", "7", "--rollout", "self_forcing", "--paired-weight", "0.5"])
        == 0
    )
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == 7 and "self_forcing rollout, paired 0.5" in (workdir / "dmd" / "log.txt").read_text()
    assert json.loads((workdir / "run.json").read_text())["dmd_rollout"] == "self_forcing"
    moved = [k for k in state["student"] if not torch.equal(state["student"][k], state["student_ema"][k])]
    assert moved  # the EMA lags the generator
    out = tmp_path / "ema"
    assert main(["export", "--workdir", str(workdir), "--out", str(out)]) == 0
    shipped = load_file(str(out / "dit.safetensors"))
    for k in moved:
        torch.testing.assert_close(shipped[k], state["student_ema"][k])
    assert "(EMA)" in (workdir / "export" / "log.txt").read_text()
    # the decoder of `adapt` was tuned on the 4-step student: export says so
    assert "tuned on the student 'dmd' step 4 (EMA), this student is 'dmd' step 7 (EMA)" in capsys.readouterr().err


def test_a_stage_already_running_in_the_workdir_is_refused(run, capsys):
    """Two processes training one stage would overwrite each other's checkpoint (and run.json) in turn."""
    import fcntl
    import os

    workdir, _ = run
    before = (workdir / "run.json").read_text()
    with open(workdir / "dmd" / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.seek(0)
        held.truncate()  # as the stage that holds it does
        held.write(f"{os.getpid()}\n")
        held.flush()
        assert main(["dmd", "--workdir", str(workdir), "--steps", "50", "--paired-weight", "0.9"]) == 1
    err = capsys.readouterr().err
    assert f"stage 'dmd' is already running in {workdir} (pid {os.getpid()})" in err and "kill -TERM" in err
    assert (workdir / "run.json").read_text() == before  # the refused command changed nothing
    assert load_ckpt(workdir / "dmd" / "ckpt.pt")["step"] < 50


def test_export_writes_into_the_workdir_unless_told_and_leaves_the_shipped_model_alone(run, capsys):
    from v2v.models.bundle import DEFAULT_DIR

    workdir, _ = run
    before = {p.name: p.stat().st_mtime_ns for p in DEFAULT_DIR.iterdir()}
    assert main(["export", "--workdir", str(workdir)]) == 0
    assert load_bundle(workdir / "bundle").size == (32, 32)
    assert str(workdir / "bundle") in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in DEFAULT_DIR.iterdir()} == before


def test_seed_starts_a_run_from_a_bundle_and_dmd_continues_it(run, tmp_path, capsys):
    """`train seed` turns an exported bundle into finished vae/decoder/teacher/ode checkpoints and a `dmd`
    checkpoint at --dmd-step; `dmd` continues from there with a critic restarted from the teacher."""
    from safetensors.torch import load_file

    from v2v.train.seed import main as seed

    _, bundle = run
    workdir = tmp_path / "seeded"
    assert seed(["--from", str(bundle), "--workdir", str(workdir), "--preset", "tiny", "--dmd-step", "4"]) == 0
    student = load_file(str(bundle / "dit.safetensors"))
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == 4 and "critic" not in state
    assert all(torch.equal(state["student_ema"][k], v) for k, v in student.items())
    assert load_ckpt(workdir / "teacher" / "latents.pt")["done"] == 2
    assert main(["all", "--workdir", str(workdir), "--out", str(tmp_path / "again")]) == 0  # adapt and export
    for stage in ("vae", "teacher", "ode", "dmd"):
        assert "already trained" in (workdir / stage / "log.txt").read_text()
    assert load_bundle(tmp_path / "again").size == (32, 32)
    assert (
        main(["dmd", "--workdir", str(workdir), "--steps", "6", "--rollout-paired", "1", "--rollout-paired-from", "5"])
        == 0
    )
    log = (workdir / "dmd" / "log.txt").read_text()
    assert "holds no critic: it restarts from the teacher" in log
    assert "the critic trains alone until step 5" in log  # the seeded step 4 + the tiny warm-up 1
    assert "rollout-paired 1.0 from step 5" in log
    state = load_ckpt(workdir / "dmd" / "ckpt.pt")
    assert state["step"] == 6 and "critic" in state and state["critic_warm_until"] == 5
    assert not all(torch.equal(state["student"][k], v) for k, v in student.items())
    assert seed(["--from", str(bundle), "--workdir", str(workdir), "--preset", "tiny"]) == 1
    assert "already has checkpoints" in capsys.readouterr().err
    assert seed(["--from", str(tmp_path / "nothing"), "--workdir", str(tmp_path / "x")]) == 1
    assert "is not a v2v bundle" in capsys.readouterr().err


def test_seed_takes_another_decoder_of_the_same_encoder_only(run, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from v2v.train.seed import main as seed

    _, bundle = run
    own = load_file(str(bundle / "vae.safetensors"))
    other = {k: v + 0.5 if "decoder" in k else v.clone() for k, v in own.items()}
    save_file(other, str(tmp_path / "decoder.safetensors"))
    workdir = tmp_path / "seeded"
    assert (
        seed(
            [
                "--from",
                str(bundle),
                "--workdir",
                str(workdir),
                "--preset",
                "tiny",
                "--decoder",
                str(tmp_path / "decoder.safetensors"),
            ]
        )
        == 0
    )
    decoder, vae = load_ckpt(workdir / "decoder" / "ckpt.pt")["vae"], load_ckpt(workdir / "vae" / "ckpt.pt")["vae"]
    assert all(torch.equal(decoder[k], other[k]) for k in own)  # `adapt` starts from this one
    assert all(torch.equal(vae[k], own[k]) for k in own)  # the bundle's own, unchanged
    moved = {k: v + 0.5 if "encoder" in k else v for k, v in own.items()}
    save_file(moved, str(tmp_path / "moved.safetensors"))
    assert (
        seed(
            [
                "--from",
                str(bundle),
                "--workdir",
                str(tmp_path / "x"),
                "--preset",
                "tiny",
                "--decoder",
                str(tmp_path / "moved.safetensors"),
            ]
        )
        == 1
    )
    assert "has another encoder" in capsys.readouterr().err
    assert not (tmp_path / "x" / "vae").exists()  # nothing written on bad input


def test_device_is_checked_before_any_stage_runs(tmp_path, capsys):
    for device, message in (("meta", "training runs on cpu or cuda"), ("gpu0", "unknown device 'gpu0'")):
        assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path), "--device", device]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "run.json").exists()  # nothing was written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_says_to_use_the_cpu(tmp_path, capsys):
    assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: this torch build sees no CUDA GPU") and "use --device cpu" in err
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_every_stage_trains_on_cuda_and_the_bundle_runs_on_the_cpu(tmp_path):
    out = tmp_path / "bundle"
    assert main(["all", "--preset", "tiny", "--workdir", str(tmp_path), "--out", str(out), "--device", "cuda"]) == 0
    for stage in ("vae", "decoder", "teacher", "ode", "dmd", "adapt"):
        state = load_ckpt(tmp_path / stage / "ckpt.pt")  # loads onto the CPU whatever device wrote it
        assert state["step"] > 0
    bundle = load_bundle(out)
    assert bundle.device == torch.device("cpu")


def test_a_new_run_is_reproducible_from_its_seed(tmp_path):
    states = []
    for name in ("a", "b"):
        assert main(["vae", "--preset", "tiny", "--workdir", str(tmp_path / name)]) == 0
        states.append(load_ckpt(tmp_path / name / "vae" / "ckpt.pt")["vae"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_runs_and_stages_draw_from_streams_of_their_own():
    # seed + offset + step made `--seed 1` the run of seed 0 shifted by one step, and stage A's step k the
    # draws of stage B's step k + (B's offset - A's): every (seed, stream, index) now has a seed of its own
    keys = [(seed, stream, i) for seed in (0, 1, 2) for stream in ("vae", "teacher", "ode", "dmd") for i in range(300)]
    seeds = {draw_seed(*k) for k in keys}
    assert len(seeds) == len(keys)
    assert draw_seed(0, "dmd", 7) == draw_seed(0, "dmd", 7)
    assert all(0 <= s < 2**63 for s in seeds)
    torch.Generator().manual_seed(max(seeds))  # a valid torch seed


def test_another_seed_is_another_run(tmp_path):
    states = []
    for seed in ("0", "1"):
        assert main(["vae", "--preset", "tiny", "--seed", seed, "--workdir", str(tmp_path / seed)]) == 0
        states.append(load_ckpt(tmp_path / seed / "vae" / "ckpt.pt")["vae"])
    assert not all(torch.equal(states[0][k], states[1][k]) for k in states[0])
