"""A runnable model: the causal student DiT, an autoencoder, a prompt encoder and the sampling settings.

Two folder layouts load:
- a v2v bundle (the embedded default model, or what `save_bundle` / `python -m v2v train export` wrote):
  `config.json` with "dit", "vae", "text", "sampling", "size" + `dit.safetensors`, `vae.safetensors`,
  `text.safetensors`;
- a Wan2.1-based checkpoint folder (CausVid, Self-Forcing, StreamDiffusionV2): a DiT checkpoint
  (`model.pt` or `*.safetensors`), `Wan2.1_VAE.pth`, and either the umT5 file with its tokenizer folder
  or a prompt-embedding cache folder. An optional `v2v.json` there overrides the DiT config
  ("dit": {...}), the VAE config ("vae": {...}), the sampling ("sampling": {...}), the working size
  ("size": [W, H]) and the streaming settings ("engine": {"window_frames": 6, "sink_frames": 3,
  "noise_refresh": 1.0, "sink_adjacent": false, "sink_refresh": 0.2}, the defaults shown); without
  it the CausVid student settings apply (1.3B, 3 latent frames per block).
  Settings are never guessed from file names.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from v2v.models.protocols import PromptEncoder, VideoAutoencoder
from v2v.sampling import SamplingConfig, causvid, streamdiffusionv2

if TYPE_CHECKING:  # the DiT module loads when a bundle is built, not when this one is imported
    from v2v.models.dit import DiT

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "weights" / "default"
WAN_SIZE = (832, 480)  # (W, H): the size Wan2.1-1.3B and its CausVid students were trained at
# StreamDiffusionV2's rolling cache: 6 latent frames of recent context, 3 adaptive sink frames (θ 0.2)
WAN_ENGINE: dict[str, Any] = {"window_frames": 6, "sink_frames": 3, "sink_refresh": 0.2}
# `--model random:NAME`: architectures with random weights. Random weights time the same as trained
# ones, so these measure speed (`python -m v2v bench`) where the real weights are not at hand.
RANDOM_MODELS = {
    "random:tiny": "the unit tests' tiny random model (64x64)",
    "random:causvid-1.3b": "CausVid's student (Wan2.1-1.3B DiT, causal, 3 latent frames per block, its 3-step "
    "schedule) with the Wan2.1 VAE, at 832x480",
    "random:causvid-1.3b-tinyvae": "the same with v2v's TinyVAE (16 latent channels) in place of the Wan2.1 VAE",
    "random:sdv2-1.3b-tinyvae": "StreamDiffusionV2's setting (1 latent frame per block, its 4-step schedule) of the "
    "same DiT, with the TinyVAE",
}


@dataclass
class ModelBundle:
    """Everything the engine needs to restyle."""

    dit: DiT  # the causal student
    vae: VideoAutoencoder  # WanVAE or TinyVAE
    text: PromptEncoder  # encode(list[str]) -> [B, text_len, text_dim]
    sampling: SamplingConfig
    size: tuple[int, int]  # (W, H) working size the model was trained at
    name: str = "model"
    window_frames: int = 4  # recommended rolling KV window (latent frames) for streaming this model
    sink_frames: int = 1  # recommended sink frames kept from the start of a stream
    noise_refresh: float = 1.0  # recommended share of fresh noise per chunk (EngineConfig.noise_refresh)
    sink_adjacent: bool = False  # recommended: keep the sinks right before the window (KVCache)
    sink_refresh: float = -1.0  # recommended adaptive-sink threshold (KVCache; -1 never refreshes)
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> ModelBundle:
        device, dtype = torch.device(device), dtype or self.dtype
        for m in (self.dit, self.vae, self.text):
            if isinstance(m, torch.nn.Module):
                m.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        return self


def _engine_settings(engine: dict[str, Any]) -> dict[str, Any]:
    """The "engine" block of config.json / v2v.json -> ModelBundle fields (unknown keys are ignored)."""
    out: dict[str, Any] = {k: int(engine[k]) for k in ("window_frames", "sink_frames") if k in engine}
    if "sink_adjacent" in engine:
        if not isinstance(engine["sink_adjacent"], bool):
            raise ValueError(f"sink_adjacent must be true or false, got {engine['sink_adjacent']!r}")
        out["sink_adjacent"] = engine["sink_adjacent"]
    if "noise_refresh" in engine:
        out["noise_refresh"] = float(engine["noise_refresh"])
        if not 0.0 <= out["noise_refresh"] <= 1.0:
            raise ValueError(f"noise_refresh must be in [0, 1], got {out['noise_refresh']}")
    if "sink_refresh" in engine:
        out["sink_refresh"] = float(engine["sink_refresh"])
        if not -1.0 <= out["sink_refresh"] <= 1.0:
            raise ValueError(f"sink_refresh is a cosine similarity in [-1, 1] (-1: never), got {out['sink_refresh']}")
    return out


def float32_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as safetensors stores it: detached, float32, on the CPU, contiguous."""
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}


def save_bundle(bundle: ModelBundle, folder: str | Path) -> Path:
    """Write a v2v bundle folder (safetensors + config.json). Only the tiny-VAE/word-text kind is saved."""
    from v2v.models.loading import config_to_dict
    from v2v.models.tiny_vae import TinyVAE
    from v2v.models.word_text import WordPromptEncoder

    if not isinstance(bundle.vae, TinyVAE) or not isinstance(bundle.text, WordPromptEncoder):
        raise TypeError("save_bundle writes bundles with a TinyVAE and a WordPromptEncoder")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "format": "v2v-bundle/1",
        "name": bundle.name,
        "dit": config_to_dict(bundle.dit.config),
        "vae": {"kind": "tiny", "config": config_to_dict(bundle.vae.config)},
        "text": {"kind": "word", "config": config_to_dict(bundle.text.config)},
        "sampling": config_to_dict(bundle.sampling),
        "size": list(bundle.size),
        "engine": {
            "window_frames": bundle.window_frames,
            "sink_frames": bundle.sink_frames,
            "noise_refresh": bundle.noise_refresh,
            "sink_adjacent": bundle.sink_adjacent,
            "sink_refresh": bundle.sink_refresh,
        },
    }
    for part, module in (("dit", bundle.dit), ("vae", bundle.vae), ("text", bundle.text)):
        save_file(float32_cpu(module.state_dict()), str(folder / f"{part}.safetensors"))
        (folder / f"{part}.safetensors").chmod(0o644)  # shipped in the wheel: readable by everyone
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def load_bundle(
    model: str | Path = "default", device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> ModelBundle:
    """'default' (the embedded model), a folder (a v2v bundle or a Wan2.1-based checkpoint folder), or one of
    RANDOM_MODELS (an architecture with random weights, for timing)."""
    from v2v.models.loading import CheckpointError

    if str(model).startswith("random:"):
        return random_model(str(model), device, dtype)
    folder = DEFAULT_DIR if str(model) == "default" else Path(model)
    if not folder.exists():
        if str(model) == "default":
            raise CheckpointError(
                f"the embedded default model is missing from {folder}; reinstall v2v or "
                "rebuild it with `python -m v2v train all`"
            )
        raise CheckpointError(f"{folder}: no such model folder; pass --model default or a folder of weights")
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: --model needs a folder (a v2v bundle or a Wan/CausVid checkpoint folder), not a file"
        )
    cfg_path = folder / "config.json"
    cfg = _read_json(cfg_path) if cfg_path.exists() else {}
    bundle = _load_v2v_bundle(folder, cfg) if "dit" in cfg and "vae" in cfg else _load_wan_folder(folder)
    return bundle.to(device, dtype)


def _read_json(path: Path) -> dict[str, Any]:
    from v2v.models.loading import CheckpointError

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def _load_v2v_bundle(folder: Path, cfg: dict[str, Any]) -> ModelBundle:
    from v2v.models.dit import DiT, DiTConfig
    from v2v.models.loading import CheckpointError, config_from_dict, load_into
    from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
    from v2v.models.word_text import WordPromptEncoder, WordTextConfig

    try:
        dit = DiT(config_from_dict(DiTConfig, cfg["dit"]))
        if cfg["vae"].get("kind") != "tiny" or cfg["text"].get("kind") != "word":
            raise ValueError(f"unknown part kinds vae={cfg['vae'].get('kind')} text={cfg['text'].get('kind')}")
        vae = TinyVAE(config_from_dict(TinyVAEConfig, cfg["vae"]["config"]))
        text = WordPromptEncoder(config_from_dict(WordTextConfig, cfg["text"]["config"]))
        sampling = config_from_dict(SamplingConfig, cfg.get("sampling", {}))
        size = _size(cfg["size"])
        engine = _engine_settings(cfg.get("engine", {}))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / 'config.json'}: not a valid v2v bundle config ({e})") from None
    for part, module in (("dit", dit), ("vae", vae), ("text", text)):
        load_into(module, folder / f"{part}.safetensors")
    for m in (dit, vae, text):
        m.eval().requires_grad_(False)
    return ModelBundle(
        dit=dit,
        vae=vae,
        text=text,
        sampling=sampling,
        size=size,
        name=str(cfg.get("name", folder.name)),
        **engine,
    )


def _load_wan_folder(folder: Path) -> ModelBundle:
    from v2v.models import presets
    from v2v.models.dit import DiTConfig
    from v2v.models.loading import (
        CheckpointError,
        config_from_dict,
        dit_config_from_json,
        json_fields,
        load_dit,
        load_text_encoder,
        load_vae,
    )
    from v2v.models.text import CachedPromptEncoder, T5PromptEncoder, T5Tokenizer
    from v2v.models.vae import VAEConfig

    extra = _read_json(folder / "v2v.json") if (folder / "v2v.json").exists() else {}
    dit_cfg = presets.wan_1_3b(causal=True, frames_per_block=3)
    if (folder / "config.json").exists():
        dit_cfg = dit_config_from_json(folder / "config.json", base=dit_cfg)
    if "dit" in extra:
        dit_cfg = dataclasses.replace(dit_cfg, **json_fields(DiTConfig, extra["dit"]))
    sampling = config_from_dict(SamplingConfig, extra["sampling"]) if "sampling" in extra else causvid()
    dit_file = _first(
        folder,
        [
            "model.pt",
            "generator.pt",
            "diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.safetensors.index.json",
        ],
    )
    vae_file = _first(folder, ["Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors"])
    if dit_file is None or vae_file is None:
        raise CheckpointError(
            f"{folder}: not a model folder: expected a v2v config.json, or a DiT checkpoint "
            "(model.pt / diffusion_pytorch_model*.safetensors) and Wan2.1_VAE.pth"
        )
    dit = load_dit(folder if dit_file.name.endswith(".index.json") else dit_file, dit_cfg)
    vae = load_vae(vae_file, presets.wan_vae(**json_fields(VAEConfig, extra.get("vae", {}))))
    cache_dir = folder / "prompt_cache"
    t5_file = _first(folder, ["models_t5_umt5-xxl-enc-bf16.pth"])
    text: PromptEncoder
    if cache_dir.is_dir():
        text = CachedPromptEncoder(cache_dir)
    elif t5_file is not None:
        t5_cfg = presets.umt5_xxl()
        text = T5PromptEncoder(
            load_text_encoder(t5_file, t5_cfg, dtype=torch.bfloat16),
            T5Tokenizer(folder / "google" / "umt5-xxl", text_len=dit_cfg.text_len),
        )
    else:
        raise CheckpointError(
            f"{folder}: no text side: add models_t5_umt5-xxl-enc-bf16.pth with its tokenizer "
            "folder google/umt5-xxl, or a prompt_cache/ folder of cached prompt embeddings"
        )
    for m in (dit, vae):
        m.eval().requires_grad_(False)
    try:
        size = _size(extra.get("size", WAN_SIZE))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f'{folder / "v2v.json"}: bad "size" ({e}): write [W, H]') from None
    try:
        engine = _engine_settings({**WAN_ENGINE, **extra.get("engine", {})})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f'{folder / "v2v.json"}: bad "engine" settings ({e})') from None
    return ModelBundle(
        dit=dit,
        vae=vae,
        text=text,
        sampling=sampling,
        size=size,
        name=folder.name,
        **engine,
    )


def _size(value: Any) -> tuple[int, int]:
    """A config's "size" ([W, H]) -> (W, H); ValueError or TypeError when it is not two whole numbers."""
    w, h = (int(v) for v in value)
    return w, h


def _first(folder: Path, names: list[str]) -> Path | None:
    for n in names:
        if (folder / n).exists():
            return folder / n
    return None


def random_bundle(seed: int = 0, size: tuple[int, int] = (64, 64)) -> ModelBundle:
    """A tiny bundle with random weights, for tests and for timing the machinery."""
    from v2v.models import presets
    from v2v.models.dit import DiT
    from v2v.models.tiny_vae import TinyVAE, TinyVAEConfig
    from v2v.models.word_text import WordPromptEncoder, WordTextConfig

    torch.manual_seed(seed)
    text_cfg = WordTextConfig(
        vocab=("a", "realistic", "blocky", "sketch", "toon", "night", "landscape"),
        text_len=8,
        dim=32,
        num_layers=1,
        num_heads=2,
    )
    vae = TinyVAE(TinyVAEConfig.tiny())
    dit = DiT(
        presets.tiny(
            text_dim=text_cfg.dim,
            in_dim=vae.z_dim,
            out_dim=vae.z_dim,
            text_len=text_cfg.text_len,
            causal=True,
            frames_per_block=1,
        )
    )
    text = WordPromptEncoder(text_cfg)
    for m in (dit, vae, text):
        m.eval().requires_grad_(False)
    sampling = SamplingConfig(shift=3.0, timesteps=(1000.0, 750.0, 500.0, 250.0), v2v_offset=100.0, frames_per_block=1)
    return ModelBundle(dit=dit, vae=vae, text=text, sampling=sampling, size=size, name=f"random-{seed}")


def random_model(name: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> ModelBundle:
    """One of RANDOM_MODELS, built directly on `device` (the 1.3B DiT takes 5.7 GB in float32, 2.8 GB in
    bfloat16; its prompt side is RandomPromptEncoder, so no umT5 is built)."""
    from v2v.models import presets
    from v2v.models.dit import DiT
    from v2v.models.loading import CheckpointError
    from v2v.models.text import RandomPromptEncoder
    from v2v.models.tiny_vae import TinyVAE
    from v2v.models.vae import WanVAE

    if name not in RANDOM_MODELS:
        raise CheckpointError(f"unknown random model {name!r}: choose one of {', '.join(RANDOM_MODELS)}")
    if name == "random:tiny":
        bundle = random_bundle()
        bundle.name = name
        return bundle.to(device, dtype)
    torch.manual_seed(0)
    sampling = streamdiffusionv2() if name.startswith("random:sdv2") else causvid()
    dit_cfg = presets.wan_1_3b(causal=True, frames_per_block=sampling.frames_per_block)
    with torch.device(device):  # parameters are made where they run: no 5.7 GB host copy first
        dit = DiT(dit_cfg)
        vae = TinyVAE() if name.endswith("-tinyvae") else WanVAE(presets.wan_vae())
    text = RandomPromptEncoder(text_len=dit_cfg.text_len, dim=dit_cfg.text_dim)
    for m in (dit, vae):
        m.eval().requires_grad_(False)
    bundle = ModelBundle(dit=dit, vae=vae, text=text, sampling=sampling, size=WAN_SIZE, name=name, **WAN_ENGINE)
    return bundle.to(device, dtype)
