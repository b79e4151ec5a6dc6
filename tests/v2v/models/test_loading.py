"""Checkpoint loading: every public layout gives the same weights; every bad file one clear error."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from v2v.models import presets
from v2v.models.dit import DiT, DiTConfig
from v2v.models.loading import (
    WRAPPER_COMPONENTS,
    CheckpointError,
    load_dit,
    load_text_encoder,
    load_vae,
    strip_prefixes,
)
from v2v.models.text import T5Config, UMT5Encoder
from v2v.models.vae import VAEConfig, WanVAE

CFG = presets.tiny()
VAE_CFG = presets.tiny_vae_config()
T5_CFG = presets.tiny_t5()


def make_dit(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    return DiT(CFG).eval()


@pytest.fixture(scope="module")
def dit() -> DiT:
    return make_dit()


@pytest.fixture(scope="module")
def state(dit: DiT) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in dit.state_dict().items()}


def assert_same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert list(got) == list(state)
    for k, v in state.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=k)


def prefixed(state: dict[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    return {fmt.format(k): v for k, v in state.items()}


def save_pt(obj: Any, path: Path) -> Path:
    torch.save(obj, path)
    return path


def fsdp_key(key: str) -> str:
    first, rest = key.split(".", 1)
    return f"model._fsdp_wrapped_module.{first}._fsdp_wrapped_module._checkpoint_wrapped_module.{rest}"


LAYOUTS: dict[str, Callable[[dict, Path], Any]] = {
    "in-memory": lambda s, d: s,
    "safetensors": lambda s, d: (save_file(s, str(d / "w.safetensors")), d / "w.safetensors")[1],
    "pt-plain": lambda s, d: save_pt(s, d / "w.pt"),
    "pt-generator (CausVid)": lambda s, d: save_pt(
        {"generator": prefixed(s, "model.{}"), "critic": prefixed(s, "model.{}")}, d / "model.pt"
    ),
    "pth-state_dict (StreamDiffusionV2)": lambda s, d: save_pt({"state_dict": s, "step": 7}, d / "w.pth"),
    "pt-model": lambda s, d: save_pt({"model": s}, d / "w.pt"),
    "prefix model.": lambda s, d: prefixed(s, "model.{}"),
    "prefix _orig_mod.model.": lambda s, d: prefixed(s, "_orig_mod.model.{}"),
    "prefix module.": lambda s, d: prefixed(s, "module.{}"),
    "fsdp + checkpoint wrappers inside keys": lambda s, d: {fsdp_key(k): v for k, v in s.items()},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_loads_the_same_weights(layout: str, state: dict, tmp_path: Path) -> None:
    model = load_dit(LAYOUTS[layout](state, tmp_path), CFG)
    assert isinstance(model, DiT) and not model.training
    assert_same_weights(model, state)


def test_generator_ema_wins_over_generator(state: dict, tmp_path: Path) -> None:
    other = make_dit(seed=1).state_dict()
    path = save_pt(
        {"generator_ema": prefixed(state, "model.{}"), "generator": prefixed(other, "model.{}"), "critic": other},
        tmp_path / "self_forcing.pt",
    )
    assert_same_weights(load_dit(path, CFG), state)
    assert_same_weights(load_dit({"generator": other, "model": state}, CFG), other)


def write_wan_folder(state: dict, folder: Path, index: bool = True) -> Path:
    folder.mkdir()
    config = {
        "_class_name": "WanModel",
        "model_type": "t2v",
        "dim": 32,
        "ffn_dim": 64,
        "freq_dim": 32,
        "text_dim": 24,
        "in_dim": 4,
        "out_dim": 4,
        "num_heads": 2,
        "num_layers": 2,
        "text_len": 8,
        "eps": 1e-6,
        "patch_size": [1, 2, 2],
        "window_size": [-1, -1],
    }
    (folder / "config.json").write_text(json.dumps(config))
    keys = list(state)
    shards = {
        "diffusion_pytorch_model-00001-of-00002.safetensors": keys[: len(keys) // 2],
        "diffusion_pytorch_model-00002-of-00002.safetensors": keys[len(keys) // 2 :],
    }
    for name, part in shards.items():
        save_file({k: state[k] for k in part}, str(folder / name))
    if index:
        weight_map = {k: name for name, part in shards.items() for k in part}
        (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map})
        )
    return folder


@pytest.mark.parametrize("index", [True, False], ids=["with-index", "shards-only"])
def test_wan_folder_with_sharded_weights_and_config_json(index: bool, state: dict, tmp_path: Path) -> None:
    folder = write_wan_folder(state, tmp_path / "Wan2.1-tiny", index)
    model = load_dit(folder)  # config from config.json
    assert model.config == CFG
    assert_same_weights(model, state)
    with pytest.raises(CheckpointError, match="shape"):  # an explicit config wins over config.json
        load_dit(
            folder,
            DiTConfig(
                dim=64, ffn_dim=64, freq_dim=32, text_dim=24, in_dim=4, out_dim=4, num_heads=2, num_layers=2, text_len=8
            ),
        )
    causal = load_dit(folder, DiTConfig(**{**CFG.__dict__, "causal": True, "frames_per_block": 2}))
    assert causal.config.causal and causal.config.frames_per_block == 2


def test_wan_folder_holds_all_three_models(state: dict, tmp_path: Path) -> None:
    folder = write_wan_folder(state, tmp_path / "wan")
    torch.manual_seed(0)
    vae_state, t5_state = WanVAE(VAE_CFG).state_dict(), UMT5Encoder(T5_CFG).state_dict()
    torch.save(vae_state, folder / "Wan2.1_VAE.pth")
    torch.save(t5_state, folder / "models_t5_umt5-xxl-enc-bf16.pth")
    assert_same_weights(load_dit(folder), state)
    vae = load_vae(folder, VAE_CFG)
    assert isinstance(vae, WanVAE)
    assert_same_weights(vae, vae_state)
    t5 = load_text_encoder(folder, T5_CFG)
    assert isinstance(t5, UMT5Encoder)
    assert_same_weights(t5, t5_state)


def test_causvid_folder_with_model_pt(state: dict, tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    save_pt({"generator": prefixed(state, "model.{}")}, tmp_path / "ckpt" / "model.pt")
    assert_same_weights(load_dit(tmp_path / "ckpt", CFG), state)
    (tmp_path / "ckpt" / "model.pt").rename(tmp_path / "ckpt" / "self_forcing_dmd.pt")
    torch.save(WanVAE(VAE_CFG).state_dict(), tmp_path / "ckpt" / "Wan2.1_VAE.pth")
    assert_same_weights(load_dit(tmp_path / "ckpt", CFG), state)  # the one file that is not the VAE
    save_pt(state, tmp_path / "ckpt" / "other.pt")
    with pytest.raises(CheckpointError, match=r"no weights for a Wan DiT.*other\.pt, self_forcing_dmd\.pt"):
        load_dit(tmp_path / "ckpt", CFG)


def test_loaded_model_computes_like_the_original(dit: DiT, state: dict, tmp_path: Path) -> None:
    save_file(state, str(tmp_path / "w.safetensors"))
    loaded = load_dit(tmp_path / "w.safetensors", CFG)
    x, t, context = torch.randn(1, 4, 2, 4, 4), torch.tensor([500.0]), torch.randn(1, 8, 24)
    torch.testing.assert_close(loaded(x, t, context), dit(x, t, context), rtol=0, atol=0)

    t5 = UMT5Encoder(T5_CFG).eval()
    loaded_t5 = load_text_encoder({"model": t5.state_dict()}, T5_CFG)
    ids = torch.randint(0, 100, (1, 6))
    torch.testing.assert_close(loaded_t5(ids, torch.ones_like(ids)), t5(ids, torch.ones_like(ids)))


def test_dtype_and_no_aliasing_of_in_memory_weights(state: dict) -> None:
    model = load_dit(state, CFG, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    model = load_dit(state, CFG)
    with torch.no_grad():
        model.patch_embedding.weight.add_(1.0)
    assert not torch.equal(model.patch_embedding.weight, state["patch_embedding.weight"])


def test_model_keys_never_contain_wrapper_components(dit: DiT) -> None:
    """Prefix stripping drops these components anywhere, so no model may use them as a name."""
    models = [dit, WanVAE(VAE_CFG), UMT5Encoder(T5_CFG)]
    for model in models:
        for key in model.state_dict():
            assert not WRAPPER_COMPONENTS & set(key.split(".")), key
            assert not key.startswith("module.")


def test_strip_prefixes_rejects_colliding_keys() -> None:
    with pytest.raises(CheckpointError, match="two keys become 'a.weight'"):
        strip_prefixes({"model.a.weight": torch.zeros(1), "a.weight": torch.zeros(1)}, "x.pt")


# -- errors -------------------------------------------------------------------------------------


class RunsCode:
    """A pickle whose loading would create `marker` (builtins.open is called by the unpickler)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_a_pickle_that_would_run_code_is_refused(how: str, state: dict, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save({"generator": state, "extra": RunsCode(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    with pytest.raises(CheckpointError, match=r"evil\.pt: refusing to run code.*open"):
        load_dit(path, CFG)
    assert not marker.exists()


def damaged_files(state: dict, d: Path) -> dict[str, tuple[Path, str]]:
    save_file(state, str(d / "good.safetensors"))
    blob = (d / "good.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(blob[: len(blob) // 2])
    torch.save(state, d / "good.pt")
    blob = (d / "good.pt").read_bytes()
    (d / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    (d / "random.pt").write_bytes(b"\x17" + random.Random(0).randbytes(4095))
    (d / "notes.safetensors").write_text("these are my notes, not weights\n")
    (d / "empty.pth").write_bytes(b"")
    return {
        "missing": (d / "absent.safetensors", r"absent\.safetensors: no such file"),
        "truncated safetensors": (
            d / "truncated.safetensors",
            r"truncated\.safetensors: not a readable "
            "safetensors file.*truncated or damaged",
        ),
        "truncated pt": (d / "truncated.pt", r"truncated\.pt: not a readable PyTorch checkpoint"),
        "random bytes": (d / "random.pt", r"random\.pt: not a checkpoint.*starts with bytes 17"),
        "text file": (d / "notes.safetensors", r"notes\.safetensors: not a checkpoint.*looks like a text file"),
        "empty file": (d / "empty.pth", r"empty\.pth: not a checkpoint.*empty"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "truncated safetensors", "truncated pt", "random bytes", "text file", "empty file"]
)
def test_damaged_files_give_one_clear_error(case: str, state: dict, tmp_path: Path) -> None:
    path, message = damaged_files(state, tmp_path)[case]
    with pytest.raises(CheckpointError, match=message):
        load_dit(path, CFG)


def test_missing_and_unexpected_keys_are_counted_and_named(state: dict) -> None:
    partial = {k: v for k, v in state.items() if k not in ("head.head.weight", "head.modulation")}
    with pytest.raises(
        CheckpointError,
        match=r"in-memory state dict: does not fit DiT: 2 missing keys "
        r"\(first: head\.(head\.weight|modulation), head\.",
    ):
        load_dit(partial, CFG)
    with pytest.raises(
        CheckpointError, match=r"756 missing keys.*a Wan DiT of another size or variant: pass the DiTConfig"
    ):
        load_dit(state)  # the default config is Wan2.1-T2V-1.3B: 30 layers, not 2
    with pytest.raises(CheckpointError, match=r"1 unexpected keys \(first: extra\.weight\)"):
        load_dit({**state, "extra.weight": torch.zeros(1)}, CFG)


def test_shape_mismatch_names_the_key_and_both_shapes(state: dict, tmp_path: Path) -> None:
    save_file(state, str(tmp_path / "w.safetensors"))
    wide = DiTConfig(**{**CFG.__dict__, "ffn_dim": 128})
    with pytest.raises(
        CheckpointError,
        match=r"w\.safetensors: blocks\.0\.ffn\.0\.weight has shape \[64, 32\] "
        r"but DiT\(DiTConfig\(\.\.\.\)\) expects \[128, 32\]",
    ):
        load_dit(tmp_path / "w.safetensors", wide)


def test_foreign_models_are_recognised(state: dict, tmp_path: Path) -> None:
    torch.save(WanVAE(VAE_CFG).state_dict(), tmp_path / "Wan2.1_VAE.pth")
    with pytest.raises(
        CheckpointError,
        match=r"Wan2\.1_VAE\.pth: does not fit DiT.*looks like a Wan VAE, "
        r"not a Wan DiT: load it with load_vae",
    ):
        load_dit(tmp_path / "Wan2.1_VAE.pth", CFG)
    with pytest.raises(CheckpointError, match="looks like a Wan DiT, not a Wan VAE: load it with load_dit"):
        load_vae(state, VAE_CFG)
    with pytest.raises(CheckpointError, match="looks like a umT5 text encoder, not a Wan DiT"):
        load_dit(UMT5Encoder(T5_CFG).state_dict(), CFG)


def test_layout_and_folder_errors(state: dict, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no state dict found: keys are 'optimizer', 'step'"):
        load_dit({"optimizer": {"lr": 1.0}, "step": 3}, CFG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty: no weights for a Wan DiT"):
        load_dit(tmp_path / "empty", CFG)
    folder = write_wan_folder(state, tmp_path / "wan")
    (folder / "diffusion_pytorch_model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"00002-of-00002\.safetensors: no such file"):
        load_dit(folder)
    (tmp_path / "diffusers").mkdir()
    (tmp_path / "diffusers" / "config.json").write_text(json.dumps({"_class_name": "WanTransformer3DModel"}))
    with pytest.raises(CheckpointError, match="diffusers-format"):
        load_dit(tmp_path / "diffusers")


REFERENCE = Path(__file__).parents[2] / "data" / "reference"


@pytest.mark.parametrize(
    "name, loader, config",
    [
        ("wan2.1_t2v_1.3b_dit.json", load_dit, DiTConfig()),
        ("wan2.1_t2v_14b_dit.json", load_dit, DiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)),
        ("wan2.1_vae.json", load_vae, VAEConfig()),
        ("umt5_xxl_encoder.json", load_text_encoder, T5Config()),
    ],
)
def test_full_size_public_key_sets_load(name: str, loader: Callable, config: Any) -> None:
    """The published checkpoints' exact keys and shapes (as meta tensors, in the Self-Forcing layout)
    validate and load at full size without allocating the weights."""
    reference = json.loads((REFERENCE / name).read_text())
    state = {
        f"model.{k}": torch.empty(shape, device="meta", dtype=torch.bfloat16)
        for k, shape in reference["shapes"].items()
    }
    model = loader({"generator_ema": state, "critic": {}}, config, device="meta", dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == reference["parameters"]
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
