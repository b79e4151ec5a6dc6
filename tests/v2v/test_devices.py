import pytest
import torch

from v2v import devices


def test_auto_is_bfloat16_on_cuda_and_follows_the_cpu_s_arithmetic(monkeypatch):
    assert devices.default_dtype("cuda") == devices.default_dtype("cuda:1") == torch.bfloat16
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(devices, "cpu_computes_bf16", lambda native=native: native)
        assert devices.default_dtype("cpu") == devices.resolve_dtype("auto", "cpu") == expected


def test_a_named_dtype_is_taken_as_it_is_and_an_unknown_one_is_refused():
    assert devices.resolve_dtype("float32", "cuda") == torch.float32
    assert devices.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="auto, float32 or bfloat16"):
        devices.resolve_dtype("float16", "cpu")


def test_the_cpu_probe_answers_without_raising():
    assert isinstance(devices.cpu_computes_bf16(), bool)
