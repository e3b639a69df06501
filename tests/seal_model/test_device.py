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


def test_generation_dtype_is_bfloat16_only_where_the_hardware_computes_it(monkeypatch):
    import seal_model.device as device

    cpu = torch.device("cpu")
    assert device.resolve_dtype("float32", cpu) is torch.float32
    assert device.resolve_dtype("bfloat16", cpu) is torch.bfloat16
    monkeypatch.setattr(device, "native_bfloat16", lambda _: False)
    assert device.resolve_dtype("auto", cpu) is torch.float32  # emulated bfloat16 would be slower
    monkeypatch.setattr(device, "native_bfloat16", lambda _: True)
    assert device.resolve_dtype("auto", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        device.resolve_dtype("float16", cpu)


def test_a_bad_generation_dtype_setting_says_the_choices():
    from rag_app.settings import load_settings

    with pytest.raises(ValueError, match="generation_dtype.*auto, float32, bfloat16"):
        load_settings(environ={"SEAL_RAG_GENERATION_DTYPE": "int4"})
