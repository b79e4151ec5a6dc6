"""The number format a model runs in where the user does not say (`--dtype auto`).

bfloat16 on a CUDA GPU, as the Wan/CausVid weights are released. On the CPU, bfloat16 only where the CPU
computes it natively (AVX512-BF16 or AMX, which oneDNN's convolutions and matrix products use): there the
default model runs about 1.3× faster at 256×256 (docs/benchmarks.md, "End to end through the live pipeline") and its
output differs from float32's by about 54 dB PSNR; elsewhere bfloat16 is emulated and slower, so float32.
"""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX512-BF16 or AMX tiles); False where torch cannot tell."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def default_dtype(device: str) -> torch.dtype:
    """bfloat16 on CUDA and on a CPU with bfloat16 arithmetic, else float32."""
    if str(device).startswith("cuda") or cpu_computes_bf16():
        return torch.bfloat16
    return torch.float32


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """'auto' -> `default_dtype(device)`; 'float32' or 'bfloat16' as named."""
    if name == "auto":
        return default_dtype(device)
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}: use auto, {' or '.join(DTYPES)}")
    return DTYPES[name]
