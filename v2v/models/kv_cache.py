"""KVCache: the self-attention keys/values of earlier chunks, plus the cross-attention keys/values.

Shape letters: B batch, P tokens per latent frame, S cached tokens, N heads, D head dim,
K text tokens (text_len).

Layout. Per layer, keys and values live in fixed buffers [B, (sink + window)·P, N, D] of frame
slots. Slots 0..sink-1 hold the first `sink_frames` frames ever written, kept forever; the remaining
`window_frames` slots are a ring holding the newest frames. Slots fill in order, so the valid part
is always the prefix of `frames` slots. The ring is never unrolled: keys are stored after RoPE, and
softmax attention is invariant to the order of its keys, so only the positions baked into the keys
matter, never where they sit in the buffer. Bookkeeping (which slot holds which position, the next
position) is host-side Python ints: nothing in the hot path syncs with the device.

Positions. `next_position` is the RoPE time index of the next chunk. Before a chunk would run past
`max_position` (the RoPE table, 1024 in Wan2.1), the cache re-bases: every cached window key is
rotated back by Δ so the oldest window frame sits right after the sinks, and next_position drops by
Δ. Sinks keep their positions 0..sink-1. Relative positions inside the window and to the new chunk
are unchanged, so with no sinks re-basing is exact; with sinks, the sinks move relatively closer
(the StreamDiffusionV2 behaviour). With `sink_adjacent=True` the cache re-bases before every chunk,
so the sinks always sit right before the window and every chunk sees the same relative positions as
the first full window did: a student trained on short clips never meets a sink hundreds of frames
away (on the default model this halves the drift of a 2,000-frame stream; docs/training.md).

Adaptive sinks (StreamDiffusionV2's `adapt_sink_threshold`). With `sink_refresh = θ`, after each chunk
commits, the mean key and mean value of each sink frame are compared (cosine similarity, averaged over
keys and values, heads, layers and batch) with those of the chunk's newest frame; when the least
similar sink scores below θ, that sink slot takes the newest frame's keys/values, rotated to the
sink's own position. A stream that has moved on to other content stops attending to a sink from
minutes ago. One decision for all layers (StreamDiffusionV2 decides per layer) keeps one slot
bookkeeping. None or −1 (the default) never refreshes; StreamDiffusionV2 ships θ = 0.2 for Wan2.1.
When on, the check reads one number back from the device per chunk (the only sync the cache makes).

A DiT call with a cache runs: `start_chunk(F)` once, `cached(i)` / `write(i, k, v)` per layer, and
`end_chunk()` when the chunk's keys/values are to be kept (write_cache=True).
"""

from __future__ import annotations

import torch
from torch import Tensor

from v2v.models.rope import Rope3D


class KVCache:
    """Per-layer self-attention K/V of sink + window latent frames, and cross-attention K/V."""

    def __init__(
        self,
        num_layers: int,
        batch: int,
        frame_tokens: int,
        num_heads: int,
        head_dim: int,
        window_frames: int,
        sink_frames: int,
        rope: Rope3D,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_position: int | None = None,
        sink_adjacent: bool = False,
        sink_refresh: float | None = None,
    ) -> None:
        assert window_frames >= 0 and sink_frames >= 0 and window_frames + sink_frames >= 1, (
            f"KVCache needs at least one frame slot; got window {window_frames}, sink {sink_frames}"
        )
        assert batch >= 1 and frame_tokens >= 1, f"batch {batch}, frame_tokens {frame_tokens}"
        self.num_layers, self.batch, self.frame_tokens = num_layers, batch, frame_tokens
        self.window_frames, self.sink_frames = window_frames, sink_frames
        self.rope = rope
        self.sink_adjacent = sink_adjacent and sink_frames > 0  # re-base every chunk (see the module doc)
        assert sink_refresh is None or -1.0 <= sink_refresh <= 1.0, f"sink_refresh {sink_refresh} is not a cosine"
        off = sink_refresh is None or sink_refresh <= -1.0 or sink_frames == 0 or window_frames == 0
        self.sink_refresh = None if off else sink_refresh
        self.max_position = rope.max_position if max_position is None else max_position
        assert self.max_position <= rope.max_position, (
            f"max_position {self.max_position} exceeds the RoPE table of {rope.max_position}"
        )
        self.capacity = sink_frames + window_frames  # frame slots
        shape = (num_layers, batch, self.capacity * frame_tokens, num_heads, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # [layers, B, S, N, D]
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # [layers, B, S, N, D]
        self.context: Tensor | None = None  # the context tensor the cross K/V were computed from
        self.cross_k: list[Tensor] = []  # per layer [B, K, N, D]
        self.cross_v: list[Tensor] = []  # per layer [B, K, N, D]
        self.reset()

    def reset(self) -> None:
        """Forget every frame and the cross-attention keys/values; buffers are kept."""
        self.next_position = 0  # RoPE time index of the next chunk
        self.frames_written = 0  # frames ever committed
        self.frames = 0  # valid frame slots (a prefix of the buffer)
        self.ring = 0  # next window slot to overwrite, 0..window_frames-1
        self.slot_position = [-1] * self.capacity  # RoPE time index held by each slot
        self.rebases = 0  # how many times positions were re-based
        self.sink_refreshes = 0  # how many times a sink took a newer frame (sink_refresh)
        self.last_sink_similarity: float | None = None  # the lowest sink similarity at the last check
        self._pending: list[tuple[int, int]] = []  # (slot, frame index in the chunk)
        self._chunk_frames = 0
        self.context, self.cross_k, self.cross_v = None, [], []

    def nbytes(self) -> int:
        """Bytes held by the self- and cross-attention buffers."""
        tensors = [self.k, self.v, *self.cross_k, *self.cross_v]
        return sum(t.numel() * t.element_size() for t in tensors)

    def start_chunk(self, frames: int) -> int:
        """Prepare for a chunk of `frames` latent frames; returns its first RoPE time position."""
        assert frames >= 1, f"a chunk needs at least one frame, got {frames}"
        assert frames <= self.max_position - self.sink_frames - self.window_frames, (
            f"a chunk of {frames} frames plus {self.capacity} cached frames does not fit in "
            f"{self.max_position} positions"
        )
        if self.sink_adjacent or self.next_position + frames > self.max_position:
            self._rebase()  # a no-op until the window has moved past the sinks
        self._chunk_frames = frames
        self._pending = self._plan(frames)
        return self.next_position

    def cached(self, layer: int) -> tuple[Tensor, Tensor]:
        """Valid keys and values of `layer`, [B, S, N, D] each (S = frames · P, in slot order)."""
        end = self.frames * self.frame_tokens
        return self.k[layer, :, :end], self.v[layer, :, :end]

    def write(self, layer: int, k: Tensor, v: Tensor) -> None:
        """Store the current chunk's post-RoPE keys/values k, v [B, F·P, N, D] for `layer`.

        Stored detached: gradients never flow into earlier chunks through the cache.
        """
        p = self.frame_tokens
        assert k.shape[:2] == (self.batch, self._chunk_frames * p), (
            f"write: expected [B={self.batch}, {self._chunk_frames}x{p} tokens, N, D], got {tuple(k.shape)}"
        )
        k, v = k.detach(), v.detach()
        for slot, f in self._pending:
            self.k[layer, :, slot * p : (slot + 1) * p] = k[:, f * p : (f + 1) * p]
            self.v[layer, :, slot * p : (slot + 1) * p] = v[:, f * p : (f + 1) * p]

    def end_chunk(self) -> None:
        """Commit the chunk written by `write`: advance the slots and next_position."""
        start = self.next_position
        for slot, f in self._pending:
            self.slot_position[slot] = start + f
        sinks_were_full = self.frames_written >= self.sink_frames
        for f in range(self._chunk_frames):
            if self.frames_written + f >= self.sink_frames and self.window_frames > 0:
                self.ring = (self.ring + 1) % self.window_frames
        self.frames_written += self._chunk_frames
        self.frames = min(self.frames_written, self.capacity)
        self.next_position += self._chunk_frames
        newest = max(self._pending, key=lambda sf: sf[1])[0] if self._pending else None
        self._pending, self._chunk_frames = [], 0
        if self.sink_refresh is not None and sinks_were_full and newest is not None:
            self._maybe_refresh_sink(newest, self.sink_refresh)

    def sink_similarity(self, slot: int) -> Tensor:
        """Cosine similarity of each sink's mean key/value to the frame in `slot`'s: [sink_frames],
        averaged over keys and values, heads, layers and batch."""
        p, n = self.frame_tokens, self.sink_frames
        sims = []
        for buf in (self.k, self.v):
            sinks = buf[:, :, : n * p].float().unflatten(2, (n, p)).mean(3)  # [L, B, n, N, D]
            new = buf[:, :, slot * p : (slot + 1) * p].float().mean(2, keepdim=True)  # [L, B, 1, N, D]
            sims.append(torch.cosine_similarity(sinks, new, dim=-1))  # [L, B, n, N]
        return ((sims[0] + sims[1]) / 2).mean(dim=(0, 1, 3))  # [n]

    def _maybe_refresh_sink(self, slot: int, threshold: float) -> None:
        """Replace the least similar sink by the frame in `slot` when it scores below `threshold`."""
        sims = self.sink_similarity(slot)  # [sink_frames]
        idx = int(torch.argmin(sims))
        self.last_sink_similarity = float(sims[idx])
        if self.last_sink_similarity >= threshold:
            return
        p = self.frame_tokens
        src, dst = slice(slot * p, (slot + 1) * p), slice(idx * p, (idx + 1) * p)
        delta = self.slot_position[idx] - self.slot_position[slot]  # the sink keeps its RoPE position
        self.k[:, :, dst] = self.rope.rotate_time(self.k[:, :, src], delta) if delta else self.k[:, :, src]
        self.v[:, :, dst] = self.v[:, :, src]
        self.sink_refreshes += 1

    def _plan(self, frames: int) -> list[tuple[int, int]]:
        """(slot, frame) pairs for a chunk; a slot reused within the chunk keeps its last frame."""
        slot_of: dict[int, int] = {}
        ring = self.ring
        for f in range(frames):
            n = self.frames_written + f
            if n < self.sink_frames:
                slot_of[n] = f
            elif self.window_frames > 0:
                slot_of[self.sink_frames + ring] = f
                ring = (ring + 1) % self.window_frames
        return sorted(slot_of.items())

    def _rebase(self) -> None:
        """Rotate the window keys back so the oldest window frame sits right after the sinks."""
        window = [pos for pos in self.slot_position[self.sink_frames : self.frames] if pos >= 0]
        first = min(window) if window else self.next_position
        delta = first - min(self.frames_written, self.sink_frames)
        if delta <= 0:
            return
        s, e = self.sink_frames * self.frame_tokens, self.frames * self.frame_tokens
        if e > s:
            self.k[:, :, s:e] = self.rope.rotate_time(self.k[:, :, s:e], -delta)
        for slot in range(self.sink_frames, self.frames):
            self.slot_position[slot] -= delta
        self.next_position -= delta
        self.rebases += 1

    def cross(self, context: Tensor) -> tuple[list[Tensor], list[Tensor]] | None:
        """The cached cross-attention K/V lists when `context` is the tensor they came from."""
        if self.context is context:
            return self.cross_k, self.cross_v
        return None

    def set_cross(self, context: Tensor, ks: list[Tensor], vs: list[Tensor]) -> None:
        """Remember the cross-attention K/V (per layer [B, K, N, D]) computed from `context`."""
        self.context, self.cross_k, self.cross_v = context, ks, vs
