"""The SEAL model's architecture, as data: every choice and which base models the weights belong
to. Apart from the network (`seal_model.model`) so that reading or defaulting a config (the
command line, the training config) does not import torch."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SealConfig:
    """Every architectural choice, and which base models the trained weights belong to."""

    whisper_name: str = ""
    whisper_fingerprint: str = ""
    text_encoder_name: str = ""
    text_encoder_fingerprint: str = ""
    whisper_dim: int = 512
    text_dim: int = 384
    conv_kernel: int = 5
    conv_stride: int = 4
    conv_channels: int = 512
    adapter_hidden: int = 1024
    length_adapter: str = "ctc"  # "ctc" | "conv"
    ctc_vocab: list[int] = field(default_factory=list)  # text-encoder token ids the CTC head predicts
    ctc_full_vocab: bool = False  # every other word piece too, behind the "other" class (no bucket left)
    trainable_text_layers: int = 0  # top text-encoder layers copied and fine-tuned for speech
    adapter_layers: int = 0  # transformer layers over the conv frames, before the CTC head: recognition capacity
    projection: str = "speech"  # "speech": a trained projection on the speech side only; "shared": legacy, on both towers
    speech_pooling: str = "mean"  # "mean" | "max" | "cls": how the speech tower's sequence becomes one vector
