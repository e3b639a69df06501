"""Pick the torch device: CUDA when present, CPU otherwise, or whatever the user forces."""
from __future__ import annotations

import torch


def resolve_device(choice: str = "auto") -> torch.device:
    """`auto` prefers CUDA; forcing `cuda` on a machine without it is an error, not a fallback."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available (use --device cpu)")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {choice!r}: use auto, cpu or cuda")
    return torch.device(choice)


def describe_device() -> str:
    """The line every reported figure carries, so CPU and GPU numbers are never mixed up."""
    import platform

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
