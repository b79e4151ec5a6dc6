"""StreamEngine: video-to-video restyling, chunk by chunk, with a causal few-step DiT and a KV cache.

Per chunk (`_run_chunk`, top to bottom): stream-encode the new pixel frames → noise the latents to
strength s → few-step denoising that attends to the cached keys/values of earlier chunks → optional
clean pass at t = 0 that writes the chunk into the cache → stream-decode.

Without input frames the same loop generates (CausVid's other applications): `start_from(image)` writes a
still into the cache as the clean first latent frame (image animation), and `generate()` denoises a chunk
from pure noise at the student's full timesteps, told no source, attending to the cached past (text to
video when nothing was started from, the animation's next chunk otherwise).

Shape letters: T pixel frames, F latent frames, C latent channels, H/W pixels, h/w latent, L text tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from v2v.models.bundle import ModelBundle
from v2v.models.kv_cache import KVCache
from v2v.sampling import add_noise, sample_chunk, v2v_timesteps


@dataclass(frozen=True)
class EngineConfig:
    """Settings of a restyling stream."""

    prompt: str = ""  # target style text
    strength: float = 0.7  # noise strength s in (0, 1]: 0 keeps the input, 1 ignores it
    steps: int | None = None  # cap on denoising steps per chunk (None: every student step below the start)
    timestep_offset: float | None = None  # first model timestep = 1000·s − offset (None: the model's own)
    seed: int = 0  # noise seed: the same seed and input give the same output
    # share of fresh noise per chunk: 1 = new every chunk (CausVid), 0 = fixed (StreamDiffusion); None: the model's
    noise_refresh: float | None = None
    clean_pass: bool = True  # re-run the clean output at t = 0 to write the cache (CausVid); else cache the last step
    window_frames: int | None = None  # latent frames of recent context in the rolling KV cache (None: the model's)
    sink_frames: int | None = None  # attention sinks: latent frames from the stream's start, kept (None: the model's)
    sink_adjacent: bool | None = None  # keep the sinks' RoPE positions right before the window (None: the model's)
    # adaptive sinks: replace a sink whose K/V cosine to the newest frame is below this (-1 never; None: the model's)
    sink_refresh: float | None = None
    motion_k: float = 0.1  # motion-aware strength: s = s0 − k·motion (0 disables)
    motion_momentum: float = 0.1  # weight of the previous chunk's strength in the smoothed strength
    # static-input skip: mean |Δpixel| (in [-1, 1] units) below which a chunk is re-emitted (0 disables)
    skip_threshold: float = 0.0
    max_skips: int = 4  # at most this many chunks in a row are skipped
    prompt_blend_chunks: int = 3  # a new prompt is blended in over this many chunks


@dataclass
class ChunkMetrics:
    """What one chunk cost and did."""

    index: int = 0  # chunk number in the stream
    frames_in: int = 0  # pixel frames consumed
    frames_out: int = 0  # pixel frames produced
    strength: float = 0.0  # strength used after motion adaptation
    timesteps: tuple[float, ...] = ()  # model timesteps run
    motion: float = 0.0  # motion measure in [0, 1]
    skipped: bool = False  # re-emitted the last output instead of computing
    encode_ms: float = 0.0
    denoise_ms: float = 0.0
    cache_ms: float = 0.0  # the clean pass that writes the KV cache
    decode_ms: float = 0.0
    total_ms: float = 0.0
    skipped_frames: int = field(default=0)  # frames re-emitted by static skip in this chunk


class StreamEngine:
    """Restyles a stream of frames. `push(frames)` returns restyled frames as soon as chunks complete;
    every input frame yields exactly one output frame, in order (`flush()` releases the tail).

    on_latents: called with each computed chunk's denoised latents [1, C, F, h, w] just before they are
    decoded (the `adapt` training stage records the student's latents this way)."""

    # set by set_prompt (reset() reads whether it ran yet) and by the first chunk's _cache_for
    _target: Tensor  # the prompt's embedding [1, L, D]
    _context: Tensor  # the context in use while a new prompt blends in [1, L, D]
    _blend_from: Tensor  # the context the blend started from [1, L, D]
    _latent_hw: tuple[int, int]  # (h, w) of the stream's latents

    def __init__(
        self,
        bundle: ModelBundle,
        config: EngineConfig = EngineConfig(),
        on_latents: Callable[[Tensor], None] | None = None,
    ) -> None:
        self.bundle = bundle
        self.config = config
        self.on_latents = on_latents
        self._validate(config)
        self._prompt_cache: dict[str, Tensor] = {}
        self.metrics: list[ChunkMetrics] = []  # metrics of the chunks finished by the last push/flush
        self.last_metrics: ChunkMetrics | None = None
        self.reset()
        self.set_prompt(config.prompt, blend=False)

    # ---- control -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new stream: caches, pending frames, noise and strength state are cleared."""
        self._encoder = self.bundle.vae.stream_encoder()
        self._decoder = self.bundle.vae.stream_decoder()
        self._cache: KVCache | None = None  # made at the first chunk once the latent size is known
        self._pending: list[Tensor] = []  # input frames not yet in a chunk, each [3, H, W]
        self._chunks = 0
        # noise is drawn on the CPU whatever the device, so a seed gives the same noise on every device (a CUDA
        # generator draws other numbers from the same seed); a chunk's noise is small next to a DiT pass
        self._gen = torch.Generator().manual_seed(self.config.seed)
        self._noises: list[Tensor] = []  # the noises drawn in the last chunk, in call order
        self._noise_calls = 0  # noises drawn in the current chunk
        self._strength_prev: float | None = None
        self._last_in: Tensor | None = None  # last input frame [3, H, W] (motion and static skip)
        self._last_out: Tensor | None = None  # last output frame [3, H, W]
        self._skips = 0
        if hasattr(self, "_target"):
            self._context = self._target
            self._blend_from, self._blend_left = self._target, 0

    def set_prompt(self, text: str, blend: bool = True) -> None:
        """Switch the target text. The stream is not reset: the new embedding is blended in over
        `prompt_blend_chunks` chunks and the cross-attention caches follow the blended context."""
        target = self._embed(text)
        if not blend or not hasattr(self, "_context") or self.config.prompt_blend_chunks <= 0:
            self._context = self._blend_from = target
            self._blend_left = 0
        else:
            self._blend_from = self._context
            self._blend_left = self.config.prompt_blend_chunks
        self._target = target
        self.prompt = text

    def set_strength(self, strength: float) -> None:
        """Change the noise strength s in (0, 1] from the next chunk on."""
        self.config = replace(self.config, strength=strength)
        self._validate(self.config)

    # ---- frames in, frames out -----------------------------------------------------------------
    @torch.inference_mode()
    def push(self, frames: Tensor) -> Tensor:
        """frames: float [T, 3, H, W] in [-1, 1] at a size the model accepts -> restyled frames
        [T', 3, H, W], T' ≥ 0 (frames come out in chunks)."""
        self._check_frames(frames)
        self._pending.extend(frames.to(self.bundle.device, self.bundle.dtype).unbind(0))
        self.metrics = []
        out: list[Tensor] = []
        while len(self._pending) >= self._chunk_len():
            n = self._chunk_len()
            chunk, self._pending = self._pending[:n], self._pending[n:]
            out.append(self._run_chunk(torch.stack(chunk, 0)))  # [n, 3, H, W]
        return self._cat(out, frames)

    @torch.inference_mode()
    def flush(self) -> Tensor:
        """End the stream: restyle the frames still pending (the last chunk is padded by repeating its last
        frame; only real frames are returned), then reset for a new stream."""
        self.metrics = []
        real = len(self._pending)
        out = torch.zeros(0, device=self.bundle.device, dtype=self.bundle.dtype)  # where push's are: they concatenate
        if real:
            pad = self._chunk_len() - real
            chunk = torch.stack(self._pending + [self._pending[-1]] * pad, 0)  # [n, 3, H, W]
            self._pending = []
            out = self._run_chunk(chunk)[:real]
        self.reset()
        return out

    @property
    def pending(self) -> int:
        """Frames received but not yet returned."""
        return len(self._pending)

    def frames_needed(self) -> int:
        """Pixel frames still to come before the next chunk runs (≥ 1): a live caller that holds this many
        of the newest frames keeps the engine busy without waiting for the source."""
        return self._chunk_len() - len(self._pending)

    # ---- the chunk -----------------------------------------------------------------------------
    def _run_chunk(self, pixels: Tensor) -> Tensor:
        """pixels [T, 3, H, W] in [-1, 1] (T = the chunk length) -> restyled [T, 3, H, W]."""
        cfg, dit = self.config, self.bundle.dit
        m = ChunkMetrics(index=self._chunks, frames_in=pixels.shape[0])
        t0 = time.perf_counter()
        m.motion = self._motion(pixels)
        if self._should_skip(pixels) and self._last_out is not None:  # a skip needs a last output
            m.skipped, m.skipped_frames, m.frames_out = True, pixels.shape[0], pixels.shape[0]
            out = self._last_out.expand(pixels.shape[0], -1, -1, -1).clone()  # [T, 3, H, W]
            self._last_in = pixels[-1]
            return self._finish(m, out, t0)
        self._skips = 0

        self._noise_calls = 0
        # 1. encode the new frames (the stream encoder keeps its caches across chunks)
        t = time.perf_counter()
        z = self._encoder(pixels.transpose(0, 1).unsqueeze(0))  # [1, C, F, h, w]
        m.encode_ms = self._ms(t)

        # 2. noise to the strength, derive the model's timesteps from it
        s = m.strength = self._adapt_strength(m.motion)
        offset = self.bundle.sampling.v2v_offset if cfg.timestep_offset is None else cfg.timestep_offset
        steps = v2v_timesteps(self.bundle.sampling.timesteps, s, offset, cfg.steps)
        x = add_noise(z, self._noise(z), s)  # [1, C, F, h, w]
        source = z if dit.config.source_channels else None  # a source model also sees the clean latents
        out = self._denoise_decode(m, x, steps, source)
        self._last_in = pixels[-1]
        return self._finish(m, out, t0)

    def _denoise_decode(self, m: ChunkMetrics, x: Tensor, steps: list[float], source: Tensor | None) -> Tensor:
        """Steps 3-5 of a chunk: x [1, C, F, h, w] at σ = steps[0]/1000 -> decoded frames [T, 3, H, W]."""
        cfg, dit = self.config, self.bundle.dit
        m.timesteps = tuple(steps)
        # 3. few-step denoising, attending to the cached keys/values of earlier chunks
        cache = self._cache_for(x)
        context = self._next_context()
        calls = iter(range(len(steps)))

        def student(x_t: Tensor, t_: Tensor) -> Tensor:
            last = next(calls) == len(steps) - 1
            return dit(x_t, t_, context, cache=cache, write_cache=last and not cfg.clean_pass, source=source)

        t = time.perf_counter()
        x0 = sample_chunk(student, x, steps, self._noise)  # [1, C, F, h, w]
        m.denoise_ms = self._ms(t)

        # 4. the clean pass: the output at t = 0 becomes the context of later chunks
        if cfg.clean_pass:
            t = time.perf_counter()
            dit(
                x0,
                torch.zeros(x0.shape[0], x0.shape[2], device=x0.device),
                context,
                cache=cache,
                write_cache=True,
                source=source,
            )
            m.cache_ms = self._ms(t)

        # 5. decode (the stream decoder keeps its caches too)
        if self.on_latents is not None:
            self.on_latents(x0)
        t = time.perf_counter()
        out = self._decoder(x0).squeeze(0).transpose(0, 1)  # [T, 3, H, W]
        m.decode_ms = self._ms(t)
        m.frames_out = out.shape[0]
        return out

    # ---- generation without input frames ---------------------------------------------------------
    @torch.inference_mode()
    def start_from(self, image: Tensor) -> Tensor:
        """Begin a new stream from a still (image animation): image float [3, H, W] in [-1, 1] is encoded as
        the first latent frame and written into the KV cache as clean context (t = 0), as a first chunk's
        output would be. -> its autoencoder round trip [1, 3, H, W], the stream's first frame. Call
        `generate()` for the frames that follow."""
        if not isinstance(image, Tensor) or image.ndim != 3:
            got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise ValueError(f"image must be a float tensor [3, H, W] in [-1, 1]; got {got}")
        self._check_frames(image[None])
        self.reset()
        self.metrics = []
        m = ChunkMetrics(index=0, frames_in=1)
        t0 = time.perf_counter()
        pixels = image.to(self.bundle.device, self.bundle.dtype)[None]  # [1, 3, H, W]
        t = time.perf_counter()
        z = self._encoder(pixels.transpose(0, 1).unsqueeze(0))  # [1, C, 1, h, w]
        m.encode_ms = self._ms(t)
        dit = self.bundle.dit
        t = time.perf_counter()
        zero_t = torch.zeros(z.shape[0], z.shape[2], device=z.device)  # [1, F]
        source = z if dit.config.source_channels else None
        dit(z, zero_t, self._next_context(), cache=self._cache_for(z), write_cache=True, source=source)
        m.cache_ms = self._ms(t)
        t = time.perf_counter()
        out = self._decoder(z).squeeze(0).transpose(0, 1)  # [1, 3, H, W]
        m.decode_ms = self._ms(t)
        m.frames_out = out.shape[0]
        self._last_in = pixels[-1]
        return self._finish(m, out, t0)

    @torch.inference_mode()
    def generate(self, size: tuple[int, int] | None = None) -> Tensor:
        """Generate the stream's next chunk from pure noise, with no input frames: the student's full timesteps
        (from t = 1000), told no source (zeros, as it was trained with the source dropped), attending to the
        cached past (a still of `start_from`, earlier generated chunks). `size` (W, H) is needed for the first
        chunk of a stream that did not start from an image. -> [T, 3, H, W] (the first chunk of a stream
        1 + 4·(n − 1) frames, later ones 4·n, n = frames_per_block). The prompt can change between calls
        (`set_prompt` blends it in); the cache rolls, so memory stays constant however long it runs."""
        self.metrics = []
        vae, dit, cfg = self.bundle.vae, self.bundle.dit, self.config
        if self._cache is None:
            if size is None:
                raise ValueError("the first generate() of a stream needs size=(W, H) (or call start_from(image))")
            W, H = size
            self._check_frames(torch.zeros(1, 3, H, W))
            h, w = H // vae.spatial_factor, W // vae.spatial_factor
        else:
            h, w = self._latent_hw
        n = self.bundle.sampling.frames_per_block
        m = ChunkMetrics(index=self._chunks, strength=1.0)
        t0 = time.perf_counter()
        self._noise_calls = 0
        shape = (1, dit.config.in_dim, n, h, w)  # [1, C, F, h, w]
        x = self._noise(torch.zeros(shape, device=self.bundle.device, dtype=self.bundle.dtype))
        steps = [float(t) for t in self.bundle.sampling.timesteps]
        if cfg.steps is not None:
            steps = steps[: cfg.steps]
        source = torch.zeros_like(x) if dit.config.source_channels else None  # no source: text and the past
        out = self._denoise_decode(m, x, steps, source)
        m.frames_in = out.shape[0]
        self._last_in = None
        return self._finish(m, out, t0)

    def _ms(self, t0: float) -> float:
        """Milliseconds since t0 once the device has done the work queued so far (CUDA runs asynchronously: without
        the wait a stage's time would show up in whichever stage next waits for a result)."""
        sync(self.bundle.device)
        return _ms(t0)

    def _finish(self, m: ChunkMetrics, out: Tensor, t0: float) -> Tensor:
        assert out.shape[0] == m.frames_in, f"chunk gave {out.shape[0]} frames for {m.frames_in} inputs"
        self._last_out = out[-1]
        self._chunks += 1
        m.total_ms = self._ms(t0)
        self.metrics.append(m)
        self.last_metrics = m
        return out

    # ---- helpers -------------------------------------------------------------------------------
    def _chunk_len(self) -> int:
        """Pixel frames in the next chunk: the VAE's 1 + tf·(n−1) for the first, tf·n after (n latent frames)."""
        n, tf = self.bundle.sampling.frames_per_block, self.bundle.vae.temporal_factor
        return 1 + tf * (n - 1) if self._chunks == 0 else tf * n

    def _noise(self, like: Tensor) -> Tensor:
        """The i-th noise of this chunk: sqrt(1 − r)·(the i-th noise of the last chunk) + sqrt(r)·fresh, with
        r = noise_refresh (unit variance for any r). r = 1 is fresh noise, r = 0 repeats the last chunk's."""
        fresh = torch.randn(like.shape, generator=self._gen, dtype=torch.float32).to(like.device)
        i, r = self._noise_calls, self.noise_refresh
        self._noise_calls += 1
        if r < 1.0 and i < len(self._noises) and self._noises[i].shape == fresh.shape:
            fresh = (1.0 - r) ** 0.5 * self._noises[i] + r**0.5 * fresh
        if i < len(self._noises):
            self._noises[i] = fresh
        else:
            self._noises.append(fresh)
        return fresh.to(like.dtype)

    def _cache_for(self, z: Tensor) -> KVCache:
        if self._cache is None:
            _, _, _, h, w = z.shape
            self._latent_hw = (h, w)
            _, ph, pw = self.bundle.dit.config.patch_size
            cfg, b = self.config, self.bundle
            self._cache = b.dit.new_cache(
                batch=z.shape[0],
                frame_tokens=(h // ph) * (w // pw),
                window_frames=b.window_frames if cfg.window_frames is None else cfg.window_frames,
                sink_frames=b.sink_frames if cfg.sink_frames is None else cfg.sink_frames,
                sink_adjacent=b.sink_adjacent if cfg.sink_adjacent is None else cfg.sink_adjacent,
                sink_refresh=self.sink_refresh,
                device=z.device,
                dtype=b.dtype,
            )
        return self._cache

    @property
    def sink_refresh(self) -> float:
        """The adaptive-sink threshold in use (−1: never): the config's, else the model's."""
        r = self.config.sink_refresh
        return self.bundle.sink_refresh if r is None else r

    @property
    def noise_refresh(self) -> float:
        """The share of fresh noise per chunk in use: the config's, else the model's recommendation."""
        r = self.config.noise_refresh
        return self.bundle.noise_refresh if r is None else r

    @property
    def cache(self) -> KVCache | None:
        """The KV cache of the running stream (None before the first chunk)."""
        return self._cache

    def _embed(self, text: str) -> Tensor:
        if text not in self._prompt_cache:
            with torch.inference_mode():
                emb = self.bundle.text.encode([text])  # [1, L, D]
            self._prompt_cache[text] = emb.to(self.bundle.device, self.bundle.dtype)
        return self._prompt_cache[text]

    def _next_context(self) -> Tensor:
        """The text context of this chunk: the target, or a step of the blend towards it."""
        if self._blend_left > 0:
            n = self.config.prompt_blend_chunks
            a = (n - self._blend_left + 1) / n
            self._context = torch.lerp(self._blend_from, self._target, a)  # [1, L, D]
            self._blend_left -= 1
        return self._context

    def _motion(self, pixels: Tensor) -> float:
        """max over frames of RMS(frame_t − frame_{t−1}) / 0.2, clamped to [0, 1] (StreamDiffusionV2)."""
        prev = pixels[:1] if self._last_in is None else self._last_in[None]
        seq = torch.cat([prev, pixels], 0)  # [T+1, 3, H, W]
        rms = (seq[1:] - seq[:-1]).float().pow(2).mean(dim=(1, 2, 3)).sqrt()  # [T]
        return float((rms.max() / 0.2).clamp(0, 1))

    def _adapt_strength(self, motion: float) -> float:
        cfg = self.config
        s = max(cfg.strength - cfg.motion_k * motion, 0.05)
        if self._strength_prev is not None:
            s = (1 - cfg.motion_momentum) * s + cfg.motion_momentum * self._strength_prev
        self._strength_prev = s
        return s

    def _should_skip(self, pixels: Tensor) -> bool:
        cfg = self.config
        if cfg.skip_threshold <= 0 or self._last_out is None or self._last_in is None or self._skips >= cfg.max_skips:
            return False
        if self._blend_left > 0:
            return False
        change = (pixels - self._last_in[None]).abs().mean().item()
        if change < cfg.skip_threshold:
            self._skips += 1
            return True
        return False

    def _check_frames(self, frames: Tensor) -> None:
        if not isinstance(frames, Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
            got = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
            raise ValueError(f"frames must be a float tensor [T, 3, H, W] in [-1, 1]; got {got}")
        m = self.bundle.vae.spatial_factor * self.bundle.dit.config.patch_size[1]
        H, W = frames.shape[-2:]
        if H % m or W % m:
            raise ValueError(f"frame size {W}x{H} must be a multiple of {m} in both directions")

    @staticmethod
    def _validate(cfg: EngineConfig) -> None:
        if not 0.0 < cfg.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {cfg.strength}")
        if cfg.noise_refresh is not None and not 0.0 <= cfg.noise_refresh <= 1.0:
            raise ValueError(f"noise_refresh must be in [0, 1], got {cfg.noise_refresh}")
        if cfg.sink_refresh is not None and not -1.0 <= cfg.sink_refresh <= 1.0:
            raise ValueError(f"sink_refresh is a cosine similarity in [-1, 1] (-1: never), got {cfg.sink_refresh}")
        if cfg.steps is not None and cfg.steps < 1:
            raise ValueError(f"steps must be at least 1, got {cfg.steps}")
        if (cfg.window_frames is not None and cfg.window_frames < 1) or (
            cfg.sink_frames is not None and cfg.sink_frames < 0
        ):
            raise ValueError(f"the KV window needs ≥ 1 frame and ≥ 0 sinks, got {cfg.window_frames}/{cfg.sink_frames}")

    def _cat(self, out: list[Tensor], like: Tensor) -> Tensor:
        if out:
            return torch.cat(out, 0)  # [T', 3, H, W]
        return torch.zeros((0, *like.shape[1:]), device=self.bundle.device, dtype=self.bundle.dtype)


def sync(device: torch.device) -> None:
    """Wait until `device` has done the work queued so far (CUDA runs asynchronously; the CPU needs no wait)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0
