"""Checkpoint loading for every public layout of Wan2.1 and the causal students built on it.

A source is a path or an in-memory state dict:
  - `.safetensors`, or `.pt` / `.pth` read with `torch.load(weights_only=True)`: a pickle that would run
    code is refused, never executed;
  - a folder: a Wan2.1 folder (config.json, diffusion_pytorch_model*.safetensors with an optional shard
    index, Wan2.1_VAE.pth, models_t5_umt5-xxl-enc-bf16.pth) or a CausVid-style folder with model.pt;
  - nested trainer dicts: CausVid `{"generator", "critic"}`, Self-Forcing adds `"generator_ema"`,
    StreamDiffusionV2 may use `"state_dict"`; generator_ema wins, then generator, model, state_dict.
Wrapper components (`model.`, `_fsdp_wrapped_module.`, `_checkpoint_wrapped_module.`, `_orig_mod.`)
are dropped wherever they occur in a key, and a leading DDP `module.`. Everything is validated against
the model before loading, so a wrong file gives one CheckpointError naming the file and the problem.

Big models are built with their parameters on the meta device and the checkpoint tensors are
assigned in place, so the weights are held in memory once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import struct
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from v2v.models.dit import DiT, DiTConfig
    from v2v.models.text import T5Config, UMT5Encoder
    from v2v.models.vae import VAEConfig, WanVAE

Source = Union[str, "os.PathLike[str]", Mapping[str, Any]]
ModuleT = TypeVar("ModuleT", bound=nn.Module)

PREFERRED_ENTRIES = ("generator_ema", "generator", "model", "state_dict")
WRAPPER_COMPONENTS = frozenset({"model", "_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"})
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")

# Where each model's weights sit in a folder, in order of preference (glob patterns).
FOLDER_PATTERNS = {
    "dit": ("diffusion_pytorch_model*.safetensors", "model.safetensors", "model.pt", "model.pth"),
    "vae": ("Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", "*vae*.safetensors", "*vae*.pth", "*VAE*.pth"),
    "t5": ("models_t5_umt5-xxl-enc-bf16.pth", "*umt5*.safetensors", "*umt5*.pth", "*t5*.pth"),
}
KIND_NAMES = {"dit": "a Wan DiT", "vae": "a Wan VAE", "t5": "a umT5 text encoder", "part": "a v2v bundle part"}
LOADERS = {"dit": "load_dit", "vae": "load_vae", "t5": "load_text_encoder"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and what is wrong with it."""


# -- reading files ------------------------------------------------------------------------------


def _describe_start(head: bytes) -> str:
    if not head:
        return "it is empty"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with bytes {head[:8].hex(' ')}"
    return f"it looks like a text file ({text[:40]!r}...)"


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100_000_000


def _read_file(path: Path) -> Any:
    """The object stored in one weights file (a dict of tensors, possibly nested)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(64)
    if _looks_like_safetensors(head):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(
                f"{path}: not a readable safetensors file ({e}); it may be truncated or "
                "damaged: download or save it again"
            ) from e
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=head.startswith(b"PK"))
        except pickle.UnpicklingError as e:
            detail = next(
                (line.strip() for line in str(e).splitlines() if "GLOBAL" in line or "Unsupported" in line),
                "it holds more than tensors",
            )
            raise CheckpointError(
                f"{path}: refusing to run code from this checkpoint: torch.load(weights_only=True) found "
                f"a pickle that needs more than tensors and plain containers ({detail}). v2v never runs "
                "code from a checkpoint: if you trust the file, load it yourself with "
                "torch.load(weights_only=False) and save its state dict as safetensors"
            ) from e
        except Exception as e:  # torch.load raises many types on damaged files; report them all as one
            first_line = (str(e).splitlines() or [repr(e)])[0][:160]
            raise CheckpointError(
                f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: "
                f"{first_line}); it may be truncated or damaged"
            ) from e
    raise CheckpointError(f"{path}: not a checkpoint: neither safetensors nor a PyTorch file; {_describe_start(head)}")


def _read_index(index: Path) -> dict[str, Tensor]:
    """Shards named by a Hugging Face `*.safetensors.index.json`, merged into one state dict."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index}: not a readable shard index ({e})") from e
    state: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        state.update(_read_file(index.parent / shard))
    absent = [k for k in weight_map if k not in state]
    if absent:
        raise CheckpointError(
            f"{index}: {len(absent)} tensors named in the index are in no shard (first: {', '.join(absent[:3])})"
        )
    return state


def find_weights(folder: Path, kind: str) -> list[Path]:
    """The weight files of one model (`kind` in dit, vae, t5) in a folder: one file, several shards,
    or a shard index (a list of one `.json`). For a DiT, a lone weight file that is not the VAE's or
    the text encoder's is taken too."""
    if kind == "dit":
        indexes = sorted(folder.glob("*.safetensors.index.json"))
        if len(indexes) == 1:
            return indexes
    for pattern in FOLDER_PATTERNS[kind]:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found and (len(found) == 1 or pattern.startswith("diffusion_pytorch_model")):
            return found
        if found:
            raise CheckpointError(
                f"{folder}: several files could be {KIND_NAMES[kind]}'s weights "
                f"({', '.join(p.name for p in found)}): pass the file's path instead"
            )
    others = sorted(p.name for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if kind == "dit":
        # a student folder holding one checkpoint under its own name (e.g. self_forcing_dmd.pt)
        claimed = {p.name for k in ("vae", "t5") for pattern in FOLDER_PATTERNS[k] for p in folder.glob(pattern)}
        unclaimed = [name for name in others if name not in claimed]
        if len(unclaimed) == 1:
            return [folder / unclaimed[0]]
    raise CheckpointError(
        f"{folder}: no weights for {KIND_NAMES[kind]} (looked for "
        f"{', '.join(FOLDER_PATTERNS[kind])}; weight files here: {', '.join(others) or 'none'})"
    )


def _read_source(source: Source, kind: str) -> tuple[Any, str, bool]:
    """(object read, name for messages, whether its tensors are ours to reuse)."""
    if isinstance(source, Mapping):
        return source, "in-memory state dict", False
    path = Path(source)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    if not path.is_dir():
        return _read_file(path), str(path), True
    files = find_weights(path, kind)
    if files[0].name.endswith(".json"):
        return _read_index(files[0]), str(files[0]), True
    state: dict[str, Any] = {}
    for file in files:
        state.update(_select(_read_file(file), str(file)))
    return state, str(files[0]) if len(files) == 1 else f"{path} ({len(files)} shards)", True


# -- layouts ------------------------------------------------------------------------------------


def _select(obj: Any, where: str) -> dict[str, Tensor]:
    """The model's state dict inside a (possibly nested) trainer checkpoint."""
    path: list[str] = []
    while isinstance(obj, Mapping) and obj and not all(isinstance(v, Tensor) for v in obj.values()):
        entry = next((k for k in PREFERRED_ENTRIES if isinstance(obj.get(k), Mapping)), None)
        if entry is None:
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            raise CheckpointError(
                f"{where}: no state dict found{' under ' + '/'.join(path) if path else ''}: "
                f"keys are {keys}; expected tensors or one of {', '.join(PREFERRED_ENTRIES)}"
            )
        path.append(entry)
        obj = obj[entry]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f"{where}: not a state dict (found {type(obj).__name__}{', empty' if isinstance(obj, Mapping) else ''})"
        )
    return dict(obj)


def strip_prefixes(state: Mapping[str, Tensor], where: str = "state dict") -> dict[str, Tensor]:
    """Drop trainer wrapper components from every key (see WRAPPER_COMPONENTS) and a leading `module.`."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "module":
            parts = parts[1:]
        new = ".".join(p for p in parts if p not in WRAPPER_COMPONENTS)
        if new in out:
            raise CheckpointError(f"{where}: two keys become {new!r} once wrapper prefixes are removed")
        out[new] = value
    return out


def _looks_like(state: Mapping[str, Tensor]) -> str | None:
    keys = list(state)
    if any(k.startswith("patch_embedding.") for k in keys):
        return "dit"
    if any(k.startswith("encoder.") for k in keys) and any(k.startswith("decoder.") for k in keys):
        return "vae"
    if "token_embedding.weight" in state:
        return "t5"
    return None


def _validate(model: nn.Module, state: Mapping[str, Tensor], where: str, kind: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    name = type(model).__name__
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
        message = f"{where}: does not fit {name}: {'; '.join(parts)}"
        other = _looks_like(state)
        if other is not None and other != kind:
            message += f". It looks like {KIND_NAMES[other]}, not {KIND_NAMES[kind]}: load it with {LOADERS[other]}"
        elif other == kind:
            message += (
                f". It is {KIND_NAMES[kind]} of another size or variant: pass the "
                f"{type(model.config).__name__} that matches it"
            )
        elif any(k.startswith("condition_embedder.") for k in state):
            message += ". It looks like a diffusers-format Wan model: use the original Wan2.1 files"
        raise CheckpointError(message)
    wrong = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(
            f"{where}: {k} has shape {list(state[k].shape)} but {name}({type(model.config).__name__}(...)) "
            f"expects {list(expected[k].shape)} ({len(wrong)} mismatched tensors): the config does not "
            "match these weights"
        )


# -- building and loading -----------------------------------------------------------------------


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Construct modules with their parameters on the meta device and everything else (buffers, RoPE
    tables) as usual: parameters are replaced by the checkpoint's tensors, so no memory or init time
    is spent on them."""
    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register_on_meta  # type: ignore[method-assign, assignment]  # patched in this block only
    try:
        yield
    finally:
        nn.Module.register_parameter = register  # type: ignore[method-assign]  # the patch undone


def _load(
    build: Callable[[], ModuleT], source: Source, kind: str, device: str | torch.device, dtype: torch.dtype
) -> ModuleT:
    obj, where, owned = _read_source(source, kind)
    state = strip_prefixes(_select(obj, where), where)
    del obj
    with _parameters_on_meta():
        model = build()
    _validate(model, state, where, kind)
    for key in list(state):
        value = state[key]
        target = dtype if value.is_floating_point() else value.dtype
        # tensors of an in-memory source are copied, so the model never aliases the caller's weights
        state[key] = value.to(device=device, dtype=target, copy=not owned)
    model.load_state_dict(state, strict=True, assign=True)
    del state
    return model.to(device=device, dtype=dtype).eval()


def load_into(model: nn.Module, source: Source) -> nn.Module:
    """Validate a file's (or state dict's) weights against an already built `model` and load them in
    place (strict; cast to the model's dtype and device). Used for the parts of a v2v bundle."""
    obj, where, _ = _read_source(source, "part")
    state = strip_prefixes(_select(obj, where), where)
    _validate(model, state, where, "part")
    model.load_state_dict(state, strict=True)
    return model


def json_fields(cls: type, d: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """The entries of a JSON object that are fields of the dataclass `cls`, JSON lists turned back into
    tuples. strict: a key `cls` does not know is a ValueError; else it is ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if strict and unknown:
        raise ValueError(f"{cls.__name__} got unknown fields {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}


def config_from_dict(cls: type, d: Mapping[str, Any], strict: bool = True) -> Any:
    """A config dataclass from its JSON object (see json_fields)."""
    return cls(**json_fields(cls, d, strict))


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready object (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def dit_config_from_json(path: Path, base: DiTConfig | None = None) -> DiTConfig:
    """DiTConfig from a Wan2.1 config.json (fields that DiTConfig does not know are ignored), on top of
    `base` (default: DiTConfig())."""
    from v2v.models.dit import DiTConfig

    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not a readable config.json ({e})") from e
    if raw.get("_class_name", "WanModel") != "WanModel":
        raise CheckpointError(
            f"{path}: describes a {raw['_class_name']}, not an original Wan2.1 WanModel "
            "(diffusers-format folders are not supported: use the original Wan2.1 files)"
        )
    if raw.get("model_type", "t2v") != "t2v":
        raise CheckpointError(
            f"{path}: model_type {raw['model_type']!r} is not supported: only text-to-video (t2v) Wan2.1 models"
        )
    return dataclasses.replace(base or DiTConfig(), **json_fields(DiTConfig, raw, strict=False))


def load_dit(
    source: Source,
    config: DiTConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    attention: str = "sdpa",
) -> DiT:
    """A DiT with the weights of `source`, in eval mode. config None: a Wan folder's config.json, else
    DiTConfig() (Wan2.1-T2V-1.3B); an explicit config wins. Set causal/frames_per_block in config to
    run a CausVid / Self-Forcing student causally."""
    from v2v.models.dit import DiT, DiTConfig

    if config is None:
        config_json = Path(source) / "config.json" if not isinstance(source, Mapping) else None
        config = dit_config_from_json(config_json) if config_json and config_json.is_file() else DiTConfig()
    cfg = config
    return _load(lambda: DiT(cfg, attention=attention), source, "dit", device, dtype)


def load_vae(
    source: Source,
    config: VAEConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> WanVAE:
    """A WanVAE with the weights of `source` (Wan2.1_VAE.pth or a folder holding it), in eval mode."""
    from v2v.models.vae import VAEConfig, WanVAE

    cfg = VAEConfig() if config is None else config
    return _load(lambda: WanVAE(cfg), source, "vae", device, dtype)


def load_text_encoder(
    source: Source,
    config: T5Config | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> UMT5Encoder:
    """A UMT5Encoder with the weights of `source` (models_t5_umt5-xxl-enc-bf16.pth or a folder holding
    it), in eval mode."""
    from v2v.models.text import T5Config, UMT5Encoder

    cfg = T5Config() if config is None else config
    return _load(lambda: UMT5Encoder(cfg), source, "t5", device, dtype)
