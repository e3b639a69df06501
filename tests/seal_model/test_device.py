"""Device choice: CUDA when present, clear errors otherwise, and exact float32 on CUDA."""
import pytest
import torch

from seal_model.device import describe_device, resolve_device, use_exact_float32


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert describe_device().startswith("cuda" if torch.cuda.is_available() else "cpu")


def test_bad_choices_are_errors_not_fallbacks():
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def test_exact_float32_turns_tf32_off():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        use_exact_float32()
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
