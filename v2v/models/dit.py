"""The Wan2.1 diffusion transformer: ONE class for the bidirectional teacher and the causal student.

Shape letters: B batch, C model dim, F latent frames, H/W latent height/width, h/w token grid
(H/ph, W/pw), P tokens per frame (h·w), L tokens (F·P), S cached tokens, K text tokens (text_len),
N heads, D head dim.

Module attribute names follow the public Wan2.1 checkpoint keys (`patch_embedding`,
`blocks.N.self_attn.q`, `head.head`, ...), so Wan, CausVid and Self-Forcing weights load unrenamed.
Causality is an argument, not a subclass: config.causal selects a block-causal mask over a whole
clip, and passing a KVCache streams chunk by chunk (see v2v/models/kv_cache.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn as nn
from torch import Tensor

from v2v.models.attention import AttentionFn, BlockCausal, get_backend
from v2v.models.kv_cache import KVCache
from v2v.models.rope import Rope3D, apply_rope


@dataclass(frozen=True)
class DiTConfig:
    """Wan2.1 config.json names; the defaults are Wan2.1-T2V-1.3B."""

    dim: int = 1536  # C, model width; a multiple of num_heads
    ffn_dim: int = 8960  # hidden width of each block's FFN
    freq_dim: int = 256  # channels of the sinusoidal timestep embedding (even)
    text_dim: int = 4096  # channels of the text encoder output (umT5-XXL: 4096)
    in_dim: int = 16  # latent channels in
    out_dim: int = 16  # latent channels out (the predicted flow)
    num_heads: int = 12  # N; head dim D = dim / num_heads, even, >= 6 for the 3-D RoPE
    num_layers: int = 30  # transformer blocks
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (frames, height, width) per token
    text_len: int = 512  # K, text tokens after zero padding
    eps: float = 1e-6  # epsilon of every LayerNorm / RMSNorm
    qk_norm: bool = True  # RMSNorm on queries and keys
    cross_attn_norm: bool = True  # affine LayerNorm (norm3) before cross-attention
    causal: bool = False  # block-causal self-attention over a clip (the student)
    frames_per_block: int = 1  # latent frames per causal block, >= 1
    source_channels: int = 0  # channels of the clean source latent seen beside x (0: a plain Wan/CausVid model)


def sinusoidal_embedding(dim: int, t: Tensor) -> Tensor:
    """Wan's timestep embedding: t [M] in 0..1000 -> [M, dim] float32, cos half then sin half."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]  # [M, half]
    return torch.cat([angles.cos(), angles.sin()], dim=1)  # [M, dim]


class RMSNorm(nn.Module):
    """x / rms(x) · weight over the last dim, computed in float32 (Wan's WanRMSNorm)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (Wan's WanLayerNorm)."""

    def forward(self, x: Tensor) -> Tensor:
        # the affine weights join the float32 computation too: a bfloat16 model has bfloat16 ones
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return nn.functional.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x [B, F, P, C] · (1 + scale) + shift, with shift/scale [B, F or 1, C]; float32 result."""
    return x.float() * (1 + scale[:, :, None]) + shift[:, :, None]  # [B, F, P, C]


class _Attention(nn.Module):
    """q, k, v, o projections with RMS-normed q and k (Wan's names), shared by both attentions."""

    def __init__(self, cfg: DiTConfig, attention: AttentionFn) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.dim // cfg.num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(cfg.dim, cfg.dim) for _ in range(4))
        self.norm_q = RMSNorm(cfg.dim, cfg.eps) if cfg.qk_norm else nn.Identity()
        self.norm_k = RMSNorm(cfg.dim, cfg.eps) if cfg.qk_norm else nn.Identity()
        self.attention = attention


class SelfAttention(_Attention):
    """Attention over video tokens with 3-D RoPE; with a cache, over earlier chunks too."""

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, mask: BlockCausal | None, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x [B, L, C]; past: the cached keys and values [B, S, N, D] of earlier chunks, or None.
        Returns the output [B, L, C] and this chunk's post-RoPE keys and values [B, L, N, D] (for the cache)."""
        B, L, C = x.shape
        N, D = self.num_heads, self.head_dim
        q = apply_rope(self.norm_q(self.q(x)).view(B, L, N, D), cos, sin)  # [B, L, N, D]
        k = apply_rope(self.norm_k(self.k(x)).view(B, L, N, D), cos, sin)  # [B, L, N, D]
        v = self.v(x).view(B, L, N, D)  # [B, L, N, D]
        keys, values = k, v
        if past is not None:
            keys = torch.cat([past[0].to(k.dtype), k], dim=1)  # [B, S + L, N, D]
            values = torch.cat([past[1].to(v.dtype), v], dim=1)  # [B, S + L, N, D]
        out = self.attention(q.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2), mask)  # [B, N, L, D]
        return self.o(out.transpose(1, 2).reshape(B, L, C)), k, v  # [B, L, C], [B, L, N, D] x 2


class CrossAttention(_Attention):
    """Attention from the video tokens to the embedded text (keys/values cacheable per prompt)."""

    def keys_values(self, text: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values [B, K, N, D] of the embedded text [B, K, C]."""
        B, K, _ = text.shape
        k = self.norm_k(self.k(text)).view(B, K, self.num_heads, self.head_dim)  # [B, K, N, D]
        v = self.v(text).view(B, K, self.num_heads, self.head_dim)  # [B, K, N, D]
        return k, v

    def forward(self, x: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, L, C = x.shape
        q = self.norm_q(self.q(x)).view(B, L, self.num_heads, self.head_dim)  # [B, L, N, D]
        out = self.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), None)  # [B, N, L, D]
        return self.o(out.transpose(1, 2).reshape(B, L, C))  # [B, L, C]


class Block(nn.Module):
    """Modulated self-attention, cross-attention to the text, modulated FFN (WanAttentionBlock)."""

    def __init__(self, cfg: DiTConfig, attention: AttentionFn) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.dim, cfg.eps, elementwise_affine=False)
        self.self_attn = SelfAttention(cfg, attention)
        self.norm3 = LayerNorm(cfg.dim, cfg.eps) if cfg.cross_attn_norm else nn.Identity()
        self.cross_attn = CrossAttention(cfg, attention)
        self.norm2 = LayerNorm(cfg.dim, cfg.eps, elementwise_affine=False)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.dim, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, cfg.dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, cfg.dim) / cfg.dim**0.5)

    def forward(
        self,
        x: Tensor,
        e: Tensor,
        grid: tuple[int, int],
        cos: Tensor,
        sin: Tensor,
        mask: BlockCausal | None,
        cross_kv: tuple[Tensor, Tensor],
        past: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x [B, L, C]; e [B, F or 1, 6, C] float32 time modulation; grid (F, P); past: cached keys and
        values [B, S, N, D] of earlier chunks. Returns x [B, L, C] and this chunk's keys and values
        [B, L, N, D]. Tensors in, tensors out (the caller owns the cache), so the block compiles whole."""
        B, L, C = x.shape
        F, P = grid
        mod = (self.modulation.float()[:, None] + e).unbind(dim=2)  # 6 x [B, F, C]
        h = modulate(self.norm1(x).view(B, F, P, C), mod[0], mod[1]).to(x.dtype)  # [B, F, P, C]
        y, k, v = self.self_attn(h.view(B, L, C), cos, sin, mask, past)  # [B, L, C], [B, L, N, D] x 2
        x = (
            (x.float().view(B, F, P, C) + y.float().view(B, F, P, C) * mod[2][:, :, None]).to(x.dtype).view(B, L, C)
        )  # [B, L, C]
        x = x + self.cross_attn(self.norm3(x), *cross_kv)  # [B, L, C]
        h = modulate(self.norm2(x).view(B, F, P, C), mod[3], mod[4]).to(x.dtype)  # [B, F, P, C]
        y = self.ffn(h.view(B, L, C))  # [B, L, C]
        x = (
            (x.float().view(B, F, P, C) + y.float().view(B, F, P, C) * mod[5][:, :, None]).to(x.dtype).view(B, L, C)
        )  # [B, L, C]
        return x, k, v


class Head(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.norm = LayerNorm(cfg.dim, cfg.eps, elementwise_affine=False)
        self.head = nn.Linear(cfg.dim, cfg.out_dim * math.prod(cfg.patch_size))
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg.dim) / cfg.dim**0.5)

    def forward(self, x: Tensor, e: Tensor, grid: tuple[int, int]) -> Tensor:
        """x [B, L, C], e [B, F or 1, C] float32 -> [B, L, out_dim · prod(patch)]."""
        B, L, C = x.shape
        F, P = grid
        shift, scale = (self.modulation.float()[:, None] + e[:, :, None]).unbind(dim=2)  # [B, F, C]
        h = modulate(self.norm(x).view(B, F, P, C), shift, scale).to(x.dtype)  # [B, F, P, C]
        return self.head(h.view(B, L, C))  # [B, L, out_dim · prod(patch)]


class DiT(nn.Module):
    """Wan2.1 DiT. Bidirectional (teacher), block-causal over a clip, or streamed with a KVCache."""

    def __init__(self, config: DiTConfig, attention: str = "sdpa") -> None:
        super().__init__()
        cfg = config
        assert cfg.dim % cfg.num_heads == 0 and (cfg.dim // cfg.num_heads) % 2 == 0, (
            f"dim {cfg.dim} must split into {cfg.num_heads} heads of even size"
        )
        assert cfg.frames_per_block >= 1, f"frames_per_block must be >= 1, got {cfg.frames_per_block}"
        self.config = cfg
        self.attention_backend = attention
        attn = get_backend(attention)
        self.patch_embedding = nn.Conv3d(cfg.in_dim, cfg.dim, cfg.patch_size, cfg.patch_size)
        # The source's own patch embedding, added to x's: the same as extra input channels of
        # patch_embedding (a convolution is linear in its channels), but every public checkpoint keeps its
        # key shapes, so a plain model's weights load into a source model unchanged (see load_plain).
        self.source_embedding = (
            nn.Conv3d(cfg.source_channels, cfg.dim, cfg.patch_size, cfg.patch_size, bias=False)
            if cfg.source_channels
            else None
        )
        self.text_embedding = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.dim, cfg.dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 6 * cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg, attn) for _ in range(cfg.num_layers))
        self.head = Head(cfg)
        self.rope = Rope3D(cfg.dim // cfg.num_heads)
        self.init_weights()

    def compile_blocks(self, backend: str = "inductor") -> DiT:
        """torch.compile each transformer block in place: on a GPU the float32 norms, modulation and residuals
        of Wan's block fuse into a few kernels (measured on an H200 in docs/benchmarks.md). The first calls
        compile (seconds each), and so does the first call at each new cache length; inductor needs a C++
        compiler on the CPU."""
        for block in self.blocks:
            block.compile(backend=backend)
        return self

    def init_weights(self, zero_head: bool = False) -> None:
        """Wan's init: xavier-uniform linears and patch conv, zero biases, N(0, 0.02) embeddings.

        Wan also zeroes the head (the model then starts by predicting 0); pass zero_head=True for
        that when training from scratch. The default keeps the head random so that equivalence
        tests compare non-trivial outputs.
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.patch_embedding.weight.flatten(1))
        if self.patch_embedding.bias is not None:  # it always has one
            nn.init.zeros_(self.patch_embedding.bias)
        if self.source_embedding is not None:  # zero: a new source model starts as the plain model, exactly
            nn.init.zeros_(self.source_embedding.weight)
        for seq in (self.text_embedding, self.time_embedding):
            for m in seq:
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=0.02)
        if zero_head:
            nn.init.zeros_(self.head.head.weight)

    def load_plain(self, state: dict[str, Tensor]) -> DiT:
        """Load a plain model's weights (no source_embedding) into this model; a source model keeps its
        source embedding as it is (zero when new), so it starts as exactly the plain model."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        allowed = {"source_embedding.weight"} if self.source_embedding is not None else set()
        if unexpected or set(missing) - allowed:
            raise KeyError(
                f"not a plain DiT state dict for this config: missing {sorted(set(missing) - allowed)}, "
                f"unexpected {sorted(unexpected)}"
            )
        return self

    def num_params(self) -> int:
        """Number of parameters (works on the meta device)."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(
        self,
        batch: int,
        frame_tokens: int,
        window_frames: int,
        sink_frames: int,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_position: int | None = None,
        sink_adjacent: bool = False,
        sink_refresh: float | None = None,
    ) -> KVCache:
        """An empty KVCache for streaming; frame_tokens = tokens per latent frame (h·w)."""
        p = next(self.parameters())
        cfg = self.config
        return KVCache(
            cfg.num_layers,
            batch,
            frame_tokens,
            cfg.num_heads,
            cfg.dim // cfg.num_heads,
            window_frames,
            sink_frames,
            self.rope,
            device=p.device if device is None else device,
            dtype=p.dtype if dtype is None else dtype,
            max_position=max_position,
            sink_adjacent=sink_adjacent,
            sink_refresh=sink_refresh,
        )

    def _time(self, t: Tensor, B: int, F: int) -> tuple[Tensor, Tensor]:
        """Timesteps [B] or [B, F] -> e [B, F', C] and e0 [B, F', 6, C] float32 (F' = 1 or F)."""
        assert t.shape == (B,) or t.shape == (B, F), (
            f"t must be [B]=[{B}] or [B, F]=[{B}, {F}] timesteps, got {tuple(t.shape)}"
        )
        tt = t.reshape(B, -1)  # [B, F']
        emb = sinusoidal_embedding(self.config.freq_dim, tt.flatten())  # [B·F', freq_dim]
        dtype = cast(nn.Linear, self.time_embedding[0]).weight.dtype
        e = self.time_embedding(emb.to(dtype)).float()  # [B·F', C]
        e0 = self.time_projection(e.to(dtype)).float()  # [B·F', 6C]
        C = self.config.dim
        return e.view(B, -1, C), e0.view(B, -1, 6, C)  # [B, F', C], [B, F', 6, C]

    def _cross_kv(self, context: Tensor, cache: KVCache | None) -> list[tuple[Tensor, Tensor]]:
        """Per-layer cross-attention K/V of the zero-padded, embedded context, cached per tensor.

        Only without autograd: under training, recomputing keeps the text path differentiable
        (a cached graph would be freed by the first backward).
        """
        cache = cache if not torch.is_grad_enabled() else None
        if cache is not None:
            hit = cache.cross(context)
            if hit is not None:
                return list(zip(*hit, strict=True))
        B, given, _ = context.shape
        dtype = cast(nn.Linear, self.text_embedding[0]).weight.dtype
        cfg = self.config
        padded = context.new_zeros(B, cfg.text_len, cfg.text_dim)  # [B, K, text_dim]
        padded[:, :given] = context
        text = self.text_embedding(padded.to(dtype))  # [B, K, C]
        kvs = [cast(Block, blk).cross_attn.keys_values(text) for blk in self.blocks]  # per layer [B, K, N, D]
        if cache is not None:
            cache.set_cross(context, [k for k, _ in kvs], [v for _, v in kvs])
        return kvs

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor,
        cache: KVCache | None = None,
        write_cache: bool = False,
        source: Tensor | None = None,
    ) -> Tensor:
        """Predicted flow [B, out_dim, F, H, W] for latents x [B, in_dim, F, H, W].

        t: [B] or [B, F] timesteps in 0..1000 (per-frame gives per-frame modulation).
        context: [B, K', text_dim] text embeddings, K' <= text_len; zero padded to text_len here
        and not masked (as in Wan). cache: None -> full attention (config.causal False) or a
        block-causal mask over the clip (True); a KVCache -> x is one chunk attending to the
        cached frames and itself, with time positions from cache.next_position; write_cache=True
        then appends the chunk's keys/values. source: [B, source_channels, F, H, W] clean latents of the
        frames being denoised, for a model whose config declares source channels (None there: no source,
        as when generating from text alone); a plain model takes none.
        """
        cfg = self.config
        assert x.dim() == 5 and x.shape[1] == cfg.in_dim, (
            f"x must be [B, {cfg.in_dim}, F, H, W] latents, got {tuple(x.shape)}"
        )
        B, _, F, H, W = x.shape
        pf, ph, pw = cfg.patch_size
        assert F % pf == 0 and H % ph == 0 and W % pw == 0, (
            f"latent size {F}x{H}x{W} is not a multiple of the patch {cfg.patch_size}"
        )
        assert (
            context.dim() == 3
            and context.shape[0] == B
            and context.shape[2] == cfg.text_dim
            and context.shape[1] <= cfg.text_len
        ), f"context must be [B={B}, <= {cfg.text_len}, {cfg.text_dim}], got {tuple(context.shape)}"
        assert not write_cache or cache is not None, "write_cache=True needs a cache"
        writer = cache if write_cache else None
        f, h, w = F // pf, H // ph, W // pw
        assert (t.dim() == 1) or pf == 1, "per-frame timesteps need a temporal patch of 1"
        e, e0 = self._time(t, B, F)  # [B, F', C], [B, F', 6, C]

        tokens = self.patch_embedding(x.to(self.patch_embedding.weight.dtype))  # [B, C, f, h, w]
        if source is not None:
            if self.source_embedding is None:
                raise ValueError("this DiT has no source channels (config.source_channels = 0): call it without source")
            assert source.shape == (B, cfg.source_channels, F, H, W), (
                f"source must be [B, {cfg.source_channels}, F, H, W] = {[B, cfg.source_channels, F, H, W]}, "
                f"got {tuple(source.shape)}"
            )
            tokens = tokens + self.source_embedding(source.to(tokens.dtype))  # [B, C, f, h, w]
        tokens = tokens.flatten(2).transpose(1, 2)  # [B, L, C]
        start, mask = 0, None
        if cache is not None:
            assert cache.batch == B and cache.frame_tokens == h * w, (
                f"cache is for batch {cache.batch} x {cache.frame_tokens} tokens per frame, got batch {B} x {h * w}"
            )
            start = cache.start_chunk(f)
        elif cfg.causal and f > cfg.frames_per_block:
            mask = BlockCausal(tokens=f * h * w, block=cfg.frames_per_block * h * w)
        cos, sin = self.rope.tables(f, h, w, start, tokens.device)  # [L, 1, D/2]
        cross = self._cross_kv(context, cache)

        for i, block in enumerate(self.blocks):
            past = cache.cached(i) if cache is not None else None  # [B, S, N, D] x 2
            tokens, k, v = block(tokens, e0, (f, h * w), cos, sin, mask, cross[i], past)  # [B, L, C], ...
            if writer is not None:
                writer.write(i, k, v)
        if writer is not None:
            writer.end_chunk()
        out = self.head(tokens, e, (f, h * w))  # [B, L, pf·ph·pw·out_dim]
        out = out.view(B, f, h, w, pf, ph, pw, cfg.out_dim)  # [B, f, h, w, pf, ph, pw, C_out]
        out = out.permute(0, 7, 1, 4, 2, 5, 3, 6)  # [B, C_out, f, pf, h, ph, w, pw]
        return out.reshape(B, cfg.out_dim, F, H, W)  # [B, C_out, F, H, W]
