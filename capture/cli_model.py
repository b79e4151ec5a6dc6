"""The model behind a command: the device, loading it (a bad model folder is a one-line error), the sizes
it accepts, and the engine on it with the options' steps, seed and noise."""

from __future__ import annotations

import argparse
import os
import warnings
from typing import TYPE_CHECKING

from capture.cli_values import parse_int, parse_noise_refresh, parse_sink_refresh, parse_strength, whole_number
from capture.errors import CaptureError

if TYPE_CHECKING:
    from v2v.engine import EngineConfig, StreamEngine
    from v2v.models.bundle import ModelBundle


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise CaptureError(
            f"--device cuda: torch {torch.__version__} ({build}) sees no CUDA GPU: "
            "use --device cpu, or install a CUDA build of torch and the NVIDIA driver"
        )
    return name


def load_model(spec: str, device: str, dtype: str = "auto") -> ModelBundle:
    """load_bundle in `dtype` ('auto': `v2v.devices.default_dtype`) with its CheckpointError turned into a
    one-line user error."""
    from v2v.devices import resolve_dtype
    from v2v.models.bundle import load_bundle
    from v2v.models.loading import CheckpointError

    if spec != "default" and not spec.startswith("random:") and not os.path.exists(spec):
        raise CaptureError(f"--model {spec} does not exist: pass --model default or a model folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bundle = load_bundle(spec, device=device, dtype=resolve_dtype(dtype, device))
        except CheckpointError as e:  # the error says it all; torch's warnings about the same file would not
            hint = (
                "; the default model is built by `python -m v2v train all` (or pass --model PATH)"
                if spec == "default" and "train" not in str(e)
                else ""
            )
            raise CaptureError(f"cannot load model {spec}: {e}{hint}") from e
    for w in caught:  # a model that loads keeps its warnings
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return bundle


def size_multiple(bundle: ModelBundle) -> int:
    """Sizes the model accepts are multiples of this (VAE downsampling x DiT patch)."""
    return bundle.vae.spatial_factor * bundle.dit.config.patch_size[1]


def prepare_model(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[ModelBundle, EngineConfig]:
    """Load the model named by the options and check the steps and the size against it."""
    from v2v.engine import EngineConfig

    strength = parse_strength(args.strength)
    steps = parse_int(args.steps, "--steps", 1)
    seed = whole_number(args.seed, "--seed", 0)
    refresh = parse_noise_refresh(args.noise_refresh)
    sink_refresh = parse_sink_refresh(args.sink_refresh)
    bundle = load_model(args.model, resolve_device(args.device), args.dtype)
    if args.compile:
        bundle.dit.compile_blocks()
    schedule = len(bundle.sampling.timesteps)
    if steps is not None and steps > schedule:
        raise CaptureError(f"--steps {steps} is more than model {bundle.name} has: give 1 to {schedule}")
    m = size_multiple(bundle)
    if size is not None and (size[0] % m or size[1] % m):
        raise CaptureError(
            f"--size {size[0]}x{size[1]} does not suit model {bundle.name}: width and height "
            f"must be multiples of {m}, e.g. {max(m, size[0] // m * m)}x{max(m, size[1] // m * m)}"
        )
    return bundle, EngineConfig(
        prompt=args.prompt,
        strength=strength,
        steps=steps,
        seed=seed,
        clean_pass=args.clean_pass,
        noise_refresh=refresh,
        sink_refresh=sink_refresh,
    )


def make_engine(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[ModelBundle, StreamEngine]:
    """`prepare_model`, then a StreamEngine on it."""
    from v2v.engine import StreamEngine

    bundle, config = prepare_model(args, size)
    return bundle, StreamEngine(bundle, config)
