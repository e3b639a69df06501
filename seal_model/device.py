"""Pick the torch device: CUDA when present, CPU otherwise, or whatever the user forces."""
from __future__ import annotations

from pathlib import Path

import torch


def use_exact_float32() -> None:
    """Turn off TF32 in cuDNN convolutions and CUDA matmuls (PyTorch enables it for convolutions).

    Why: the CTC length adapter keeps or drops frames by an argmax, so TF32's rounding in the
    convolutions can flip a frame and move the embedding. Measured on an H200 over 60 held-out
    clips: with TF32 one clip's vector fell to cosine 0.972 against the CPU's; without it all 60
    matched (>= 0.9999) at the same speed (SEAL p50 13.5 ms vs 13.6 ms)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def resolve_device(choice: str = "auto") -> torch.device:
    """`auto` prefers CUDA; forcing `cuda` on a machine without it is an error, not a fallback.
    On CUDA, float32 stays exact float32 (see use_exact_float32), so results match the CPU's."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available (use --device cpu)")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {choice!r}: use auto, cpu or cuda")
    if choice == "cuda":
        use_exact_float32()
    return torch.device(choice)


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware. On a CPU without it (AVX2 only) PyTorch
    emulates bfloat16, slower than float32; with it (AVX512-BF16, AMX) matmuls run about twice as
    fast: SmolLM2-135M's prefill of 240 tokens took 199 ms vs 440 ms in float32 on 2 threads."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to know, stay exact
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


# "int8": the weights load in float32 and every linear layer is quantised to int8 on load, its
# activations quantised per call (PyTorch's dynamic quantisation, fbgemm/x86 kernels). A torch
# dtype stands for it so one value travels from the settings to the loaders.
INT8 = torch.qint8


def resolve_dtype(choice: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 where the hardware computes it natively, else float32."""
    if choice == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    if choice == "int8":
        if device.type != "cpu":
            raise ValueError("generation_dtype int8 runs on the CPU only (on CUDA use bfloat16)")
        return INT8
    if choice not in ("float32", "bfloat16"):
        raise ValueError(f"unknown dtype {choice!r}: use auto, float32, bfloat16 or int8")
    return getattr(torch, choice)


def load_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to load weights in: int8 models load in float32 and are quantised after."""
    return torch.float32 if dtype == INT8 else dtype


def quantize_linears(model: torch.nn.Module, dtype: torch.dtype, only: tuple[str, ...] = ()) -> torch.nn.Module:
    """For INT8, swap the linear layers of `model` (or of its submodules named in `only`) for int8
    ones, in place; any other dtype leaves the model as it is. PyTorch marks this eager API
    deprecated (torchao is its successor) but ships and runs it in the pinned 2.13; the warnings
    are silenced here, where it is used on purpose."""
    if dtype != INT8:
        return model
    import warnings

    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    def asked(name: str) -> bool:
        return not only or any(name == part or name.startswith(part + ".") for part in only)

    # by name, linear layers only (a name's qconfig would reach its embeddings too)
    spec = {name: default_dynamic_qconfig for name, layer in model.named_modules()
            if isinstance(layer, torch.nn.Linear) and asked(name)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, spec, dtype=INT8, inplace=True)


def dtype_name(dtype: torch.dtype) -> str:
    return "int8" if dtype == INT8 else str(dtype).removeprefix("torch.")


def describe_device() -> str:
    """The line every reported figure carries, so CPU and GPU numbers are never mixed up."""
    import platform

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
