"""Generation without a source picture (capture/generator.py, capture/script.py, capture/sources/none.py) and
its command line: `animate IMAGE OUT`, `generate OUT|SINK`, `--mode animate`, `--input none`, `--script`.
Tiny random models on the CPU; real files written and read back with PyAV."""

from __future__ import annotations

import dataclasses
import os
import threading

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from capture.cli import main
from capture.control import Steering
from capture.errors import CaptureError
from capture.frame import Frame, frames_to_tensor, tensor_to_frames
from capture.generator import Generator
from capture.pipeline import PipelineConfig, run_pipeline
from capture.script import Cue, parse_script
from capture.sinks.file import VideoFileSink
from capture.sinks.null import NullSink
from capture.sources import open_source
from capture.sources.none import NoneSource
from capture.sources.pattern import pattern_image
from tests.capture.helpers import decode_video, make_video
from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import ModelBundle, random_bundle


# ---- a smooth stand-in autoencoder ----------------------------------------------------------------
class _PoolCoder:
    """A streaming coder over PoolVAE: the first call of a stream treats its first frame (or latent) alone."""

    def __init__(self, vae: PoolVAE, encode: bool) -> None:
        self.vae, self.encode, self.first = vae, encode, True

    def reset(self) -> None:
        self.first = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.vae.encode_stream(x, self.first) if self.encode else self.vae.decode_stream(x, self.first)
        self.first = False
        return out


class PoolVAE(torch.nn.Module):
    """An autoencoder whose round trip is a blur: 8x8 average pooling (groups of 4 frames averaged) into the
    first 3 of `z_dim` latent channels, bilinear upsampling back. Random TinyVAE weights decode to pixel noise,
    which H.264 cannot keep; this one decodes to smooth pictures, so a written file can be compared."""

    spatial_factor, temporal_factor = 8, 4

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim

    def encode_stream(self, video: torch.Tensor, first: bool) -> torch.Tensor:
        """[B, 3, T, H, W] -> [B, z, F, h, w]"""
        head, tail = (video[:, :, :1], video[:, :, 1:]) if first else (video[:, :, :0], video)
        B, C, T, H, W = tail.shape
        groups = tail.reshape(B, C, T // 4, 4, H, W).mean(3)  # [B, 3, T/4, H, W]
        x = F.avg_pool3d(torch.cat([head, groups], 2), (1, 8, 8))  # [B, 3, F, h, w]
        return torch.cat([x, x.new_zeros(B, self.z_dim - 3, *x.shape[2:])], 1)  # [B, z, F, h, w]

    def decode_stream(self, z: torch.Tensor, first: bool) -> torch.Tensor:
        """[B, z, F, h, w] -> [B, 3, T, H, W]"""
        B, _, Fz, h, w = z.shape
        x = z[:, :3].transpose(1, 2).reshape(B * Fz, 3, h, w)  # [B·F, 3, h, w]
        up = F.interpolate(x, scale_factor=8, mode="bilinear", align_corners=False).clamp(-1, 1)  # [B·F, 3, H, W]
        up = up.reshape(B, Fz, 3, 8 * h, 8 * w).transpose(1, 2)  # [B, 3, F, H, W]
        repeats = torch.tensor([1 if first and i == 0 else 4 for i in range(Fz)])
        return torch.repeat_interleave(up, repeats, dim=2)  # [B, 3, T, H, W]

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return self.encode_stream(video, True)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_stream(z, True)

    def stream_encoder(self) -> _PoolCoder:
        return _PoolCoder(self, encode=True)

    def stream_decoder(self) -> _PoolCoder:
        return _PoolCoder(self, encode=False)


def smooth_bundle() -> ModelBundle:
    bundle = random_bundle(seed=0)
    return dataclasses.replace(bundle, vae=PoolVAE(bundle.dit.config.in_dim))


def _still(size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A smooth picture (the pattern, blurred): uint8 [H, W, 3]."""
    return cv2.GaussianBlur(pattern_image(5, size), (9, 9), 0)


def _write_still(path: str, image: np.ndarray) -> str:
    cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def _round_trip(bundle: ModelBundle, image: np.ndarray) -> np.ndarray:
    """The autoencoder's round trip of an image at its own size: uint8 [H, W, 3]."""
    size = (image.shape[1], image.shape[0])
    x = frames_to_tensor([image], size).transpose(0, 1)[None]  # [1, 3, 1, H, W]
    with torch.inference_mode():
        video = bundle.vae.decode(bundle.vae.encode(x))[0].transpose(0, 1)  # [1, 3, H, W]
    return tensor_to_frames(video, size)[0]


def _through_h264(image: np.ndarray, path: os.PathLike) -> np.ndarray:
    """`image` written alone by the file sink and read back."""
    sink = VideoFileSink(str(path), (image.shape[1], image.shape[0]), 8)
    sink.write(Frame(image, 0.0, 0))
    sink.close()
    return decode_video(path)[0][0]


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def _neighbour_correlation(image: np.ndarray) -> float:
    """Correlation of horizontally adjacent pixels: about 0 for noise, near 1 for pictures."""
    g = image.astype(np.float32).mean(2)
    return float(np.corrcoef(g[:, 1:].ravel(), g[:, :-1].ravel())[0, 1])


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---- image animation ------------------------------------------------------------------------------
def test_animate_writes_the_image_then_frames_that_move(tmp_path, tiny_model, capsys, monkeypatch):
    bundle = smooth_bundle()
    monkeypatch.setattr("capture.cli_model.load_model", lambda spec, device, dtype="auto": bundle)
    image = _still()
    still, out = _write_still(str(tmp_path / "still.png"), image), str(tmp_path / "moving.mp4")
    argv = ["animate", still, out, "--model", tiny_model, "--prompt", "a realistic landscape", "--seconds", "1.5"]
    assert main([*argv, "--fps", "8", "--seed", "3"]) == 0, capsys.readouterr().err
    frames, times, rate = decode_video(out)
    assert len(frames) == 12 and rate == 8  # seconds × fps
    assert times == pytest.approx([i / 8 for i in range(12)])
    expected = _round_trip(bundle, image)
    codec = _mean_abs(_through_h264(expected, tmp_path / "expected.mp4"), expected)  # H.264's own error on it
    assert _mean_abs(frames[0], expected) < codec + 1.0  # the round trip, within the codec's error
    assert _mean_abs(expected, image) > codec + 1.0  # (the round trip is a blur: that is what is compared)
    change = [_mean_abs(a, b) for a, b in zip(frames[1:], frames[:-1], strict=True)]
    assert max(change) > 1.0  # it moves
    for frame in frames:  # pictures, not noise
        assert 1.0 < frame.std() < 127.0 and _neighbour_correlation(frame) > 0.8


def test_the_first_generated_frame_is_the_engines_round_trip_of_the_still():
    """No codec: the Generator's first frame of a random TinyVAE model is its round trip of the still, at the
    working size; every input frame gets one frame with its timestamps."""
    bundle = random_bundle(seed=1)
    image = pattern_image(3, (64, 64))
    generator = Generator(StreamEngine(bundle, EngineConfig(prompt="a toon landscape")), bundle.size, animate=True)
    inputs = [Frame(image, 0.5 + i / 16, 10 + i, 100 + i) for i in range(6)]
    out = generator.push(inputs[:2]) + generator.push(inputs[2:])
    assert [(f.t, f.index, f.pts) for f in out] == [(f.t, f.index, f.pts) for f in inputs]
    assert np.abs(out[0].image.astype(int) - _round_trip(bundle, image).astype(int)).max() <= 1
    assert generator.flush() == [] and generator.engine.cache is None  # a new stream


# ---- text to video: memory, the script -------------------------------------------------------------
@pytest.mark.slow
def test_500_generated_chunks_run_in_constant_memory():
    bundle = random_bundle()
    engine = StreamEngine(bundle, EngineConfig(prompt="a night landscape", steps=1, clean_pass=False))  # 1 pass
    generator = Generator(engine, bundle.size, size=(16, 16))
    frames = iter(NoneSource((16, 16), frames=1 + 499 * 4))
    cache, storage, rss = None, 0, 0.0
    batch = [next(frames)]
    while batch:
        assert len(generator.push(batch)) == len(batch)
        assert len(generator._ready) < 4  # the surplus of one chunk at most
        if engine._chunks == 50:
            cache, storage, rss = engine.cache, engine.cache.k.data_ptr(), _rss_mb()
        batch = [f for _, f in zip(range(4), frames, strict=False)]
    assert engine._chunks == 500 and engine.cache is cache and cache.k.data_ptr() == storage
    assert cache.frames_written == 500
    assert _rss_mb() - rss < 50.0


def test_a_scripted_prompt_change_takes_effect_within_the_blend_without_a_reset():
    bundle = random_bundle()
    config = EngineConfig(prompt="", prompt_blend_chunks=3)
    engine = StreamEngine(bundle, config)
    script = parse_script("0 a realistic landscape\n2 a night landscape\n")
    told: list[str] = []
    generator = Generator(engine, bundle.size, size=(32, 32), script=script, on_cue=told.append)
    contexts = {}  # chunk number -> the context it ran with
    cue_chunk = None
    for frame in NoneSource((32, 32), fps=4.0, frames=40):
        before = engine._chunks
        generator.push([frame])  # a cue due at this frame applies before a chunk this push generates
        contexts[engine._chunks - 1] = engine._context
        if frame.t >= 2.0 and cue_chunk is None:
            cue_chunk, cache = before, engine.cache  # the first chunk generated after the cue
    first, night = engine._embed("a realistic landscape"), engine._embed("a night landscape")
    assert told == ["a realistic landscape", "a night landscape"]
    assert torch.equal(contexts[0], first)  # the prompt due at 0 s is the first chunk's, not blended in
    assert not torch.equal(contexts[cue_chunk], night)  # blending ...
    assert torch.equal(contexts[cue_chunk + config.prompt_blend_chunks - 1], night)  # ... within the promise
    assert engine.cache is cache and engine._chunks == max(contexts) + 1  # one stream, no reset


def test_the_runtime_steers_the_generator_like_the_restyler():
    """A prompt from the controls reaches the Generator between pushes, as it reaches the Restyler; a scripted
    prompt shows in the steering (the status) and coming back from there it is not blended in again."""
    bundle = random_bundle()
    config = PipelineConfig(lossless=True, pace=False)
    engine = StreamEngine(bundle, EngineConfig(prompt="a realistic landscape"))
    steering = Steering("a realistic landscape")
    steering.update(prompt="a toon landscape")
    result = run_pipeline(NoneSource((32, 32), frames=9), NullSink(), Generator(engine, bundle.size, (32, 32)),
                          threading.Event(), config, steering)  # fmt: skip
    assert result.frames_out == 9 and engine.prompt == "a toon landscape"

    calls: list[tuple[str, bool]] = []
    set_prompt = engine.set_prompt

    def spy(text: str, blend: bool = True) -> None:
        calls.append((text, blend))
        set_prompt(text, blend)

    engine.set_prompt = spy  # type: ignore[method-assign]
    script = [Cue(0.0, "a blocky landscape")]
    generator = Generator(engine, bundle.size, (32, 32), script=script, on_cue=lambda p: steering.update(prompt=p))
    result = run_pipeline(NoneSource((32, 32), frames=9), NullSink(), generator, threading.Event(), config, steering)
    assert result.frames_out == 9 and steering.snapshot()["prompt"] == "a blocky landscape"
    assert calls == [("a blocky landscape", False)]  # once, at the start: no blend from the controls' echo


# ---- the script ------------------------------------------------------------------------------------
def test_a_script_is_parsed_in_order():
    text = "# a story\n\n0 blocky daytime landscape\n  4.5   blocky night landscape  \n8 realistic night\n"
    assert parse_script(text, "story.txt") == [
        Cue(0.0, "blocky daytime landscape"),
        Cue(4.5, "blocky night landscape"),
        Cue(8.0, "realistic night"),
    ]


@pytest.mark.parametrize(
    "text, match",
    [
        ("0 a\nsoon b\n", r"story\.txt line 2: 'soon' is not a time in seconds"),
        ("0 a\n4\n", r"story\.txt line 2: no prompt after the time"),
        ("0 a\n-1 b\n", r"story\.txt line 2: the time must be a number of seconds ≥ 0"),
        ("# only\n\n0 a\n5 b\n\n3 c\n", r"story\.txt line 6: 3 s comes before the previous line's 5 s"),
        ("nan a\n", r"line 1: the time must be"),
        ("# nothing\n\n", r"story\.txt has no prompt lines"),
    ],
)
def test_script_errors_name_the_file_and_line(text, match):
    with pytest.raises(CaptureError, match=match):
        parse_script(text, "story.txt")


def test_a_bad_script_stops_the_command_with_one_line(tmp_path, tiny_model, capsys):
    story = tmp_path / "story.txt"
    story.write_text("0 a blocky landscape\n2 night\nlater realistic\n")
    out = tmp_path / "out.mp4"
    assert main(["generate", str(out), "--script", str(story), "--model", tiny_model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --script {story} line 3: 'later' is not a time in seconds: write SECONDS PROMPT, "
                   "e.g. '4.5 a realistic night landscape'"]  # fmt: skip
    assert not out.exists()
    assert main(["generate", str(out), "--script", str(tmp_path / "missing.txt"), "--model", tiny_model]) == 1
    assert "missing.txt does not exist" in capsys.readouterr().err


# ---- the command line ----------------------------------------------------------------------------
def _one_line_error(capsys, argv: list[str], match: str) -> None:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], lines


def test_animate_needs_an_image(tmp_path, tiny_model, capsys):
    clip = make_video(tmp_path / "clip.mp4", frames=3)
    out = str(tmp_path / "out.mp4")
    model = ["--model", tiny_model]
    _one_line_error(capsys, ["--input", clip, "--mode", "animate", "--output", "null", *model], "is a video")
    _one_line_error(capsys, ["--input", "pattern", "--mode", "animate", "--output", "null", *model], "not an image")
    _one_line_error(capsys, ["--input", "none", "--mode", "animate", "--output", "null", *model], "--input IMAGE")
    _one_line_error(capsys, ["animate", clip, out, *model], "animate needs a still image")
    _one_line_error(capsys, ["animate", str(tmp_path / "gone.png"), out, *model], "gone.png does not exist")
    _one_line_error(capsys, ["--input", "pattern", "--script", clip, "--output", "null", *model], "applies to gen")
    assert not os.path.exists(out)
    with pytest.raises(SystemExit) as info:  # an unknown mode is a usage error
        main(["--input", "none", "--mode", "dance", "--output", "null", *model])
    assert info.value.code == 2 and "invalid choice: 'dance'" in capsys.readouterr().err


def test_text_to_video_needs_a_prompt_and_an_end(tmp_path, tiny_model, capsys):
    out = str(tmp_path / "out.mp4")
    _one_line_error(capsys, ["generate", out, "--model", tiny_model], "give --prompt TEXT or --script FILE")
    argv = ["--input", "none", "--output", out, "--prompt", "a night landscape", "--model", tiny_model]
    _one_line_error(capsys, argv, "never ends, so the file would grow forever: pass --max-frames N")


def test_input_none_into_a_file_writes_max_frames(tmp_path, tiny_model, capsys):
    out = tmp_path / "night.mp4"
    argv = ["--input", "none", "--output", str(out), "--max-frames", "7", "--prompt", "a night landscape"]
    assert main([*argv, "--model", tiny_model, "--fps", "12"]) == 0, capsys.readouterr().err
    frames, times, rate = decode_video(out)
    assert len(frames) == 7 and frames[0].shape == (64, 64, 3) and rate == 12  # the model's working size
    assert times == pytest.approx([i / 12 for i in range(7)])


def test_generate_writes_seconds_times_fps_at_the_size(tmp_path, tiny_model, capsys):
    out = tmp_path / "story.mp4"
    story = tmp_path / "story.txt"
    story.write_text("0 a blocky landscape\n0.5 a night landscape\n")
    argv = ["generate", str(out), "--script", str(story), "--seconds", "1", "--fps", "10", "--size", "32x48"]
    assert main([*argv, "--model", tiny_model]) == 0, capsys.readouterr().err
    frames, _, _ = decode_video(out)
    assert len(frames) == 10 and frames[0].shape == (48, 32, 3)


def test_the_none_source_gives_blank_frames_of_its_size():
    source = open_source("none", size=(48, 32), fps=16.0, frames=3)
    frames = list(source)
    assert [(f.index, f.t) for f in frames] == [(0, 0.0), (1, 1 / 16), (2, 2 / 16)]
    assert frames[0].image.shape == (32, 48, 3) and not frames[0].image.any()
    assert source.size == (48, 32) and not source.live and source.frame_count == 3
    assert source.describe() == "none (text to video) 48x32 at 16 fps"
    with pytest.raises(ValueError, match="needs size"):
        open_source("none")
