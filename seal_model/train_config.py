"""Every choice of a training run, with its default in one place: `seal-rag train` builds its
options from the fields marked `option(...)` (name, type, default, help), so the command line and
the library cannot disagree, and the architecture defaults come from `SealConfig`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seal_model.config import SealConfig


def option(default: Any = None, help: str = "", **metadata: Any) -> Any:
    """A field that is also a command-line option (`--field-name`)."""
    return field(default=default, metadata={"cli": help, **metadata})


@dataclass
class TrainConfig:
    run_dir: str = field(metadata={"cli": "Where checkpoints, loss.csv and loss.png go (resumes if present).",
                                   "cli_type": "path"})
    cache_dir: str
    corpus_dir: str
    whisper_dir: str
    text_dir: str
    seed: int = option(0)
    batch_size: int = option(48)
    # A warm start may still ask for CTC-only steps: they are the cheap way to train the recogniser longer.
    stage0_steps: int | None = option(None, "CTC-only steps before the others (ctc length adapter); default 600 "
                                            "from scratch, 0 on a warm start.")
    stage1_steps: int = option(1500, "Alignment steps.")
    stage2_steps: int = option(1000, "Retrieval fine-tuning steps.")
    lr: float = option(1e-3)
    stage2_lr_scale: float = 0.3
    warmup_steps: int = 100
    temperature: float = option(0.05)
    hard_negatives: int = option(2, "Mined hard negatives per question in stage 2.")
    ctc_weight: float = option(0.2)
    align_weight: float = 1.0
    inbatch_weight: float = 0.5
    retrieval_weight: float = 1.0
    ctc_vocab_size: int = 8000  # word pieces with their own CTC output row
    ctc_full_vocab: bool = option(True, "CTC over every word piece (rare ones behind the 'other' class); a warm "
                                        "start from a checkpoint without it adds it.")
    projection: str = option(SealConfig.projection, "speech: stock text tower, projection on the speech side; "
                                                    "shared: one layer on both towers (legacy).")
    spec_augment: bool = option(False, "SpecAugment-style time and channel masks on the cached features.")
    length_adapter: str = option(SealConfig.length_adapter, "ctc | conv")
    conv_kernel: int = option(SealConfig.conv_kernel)
    conv_stride: int = option(SealConfig.conv_stride)
    trainable_text_layers: int = option(0, "Top text-encoder layers fine-tuned on the speech side.")
    adapter_layers: int = option(0, "Transformer layers over the adapter's conv frames, before the CTC head.")
    text_layer_lr_scale: float = option(0.1, "Learning-rate factor for the fine-tuned text layers.")
    speech_pooling: str = option(SealConfig.speech_pooling, "mean | max | cls (speech tower only).")
    max_shards: int | None = option(None, "Use only the first N feature shards.")
    shards: str | None = option(None, "Use only these feature shards, e.g. 55-84,133-162.")
    init_from: str | None = option(None, "Warm start from this checkpoint folder (its architecture wins, except "
                                         "that --trainable-text-layers and --adapter-layers may add layers).",
                                   cli_type="path")
    cosent_weight: float = option(0.0, "Weight of the CoSENT term in stage 2 (0 = off).")
    cosent_scale: float = 20.0
    sentence_queries: bool = option(False, "Stage 2 also retrieves each spoken passage sentence's own passage.")
    threads: int = option(2)
    eval_every: int = option(250)
    dev_kb_size: int = 5000
    recipe: str = option("plain", "Which feature cache: plain or augmented (`seal-rag data speech --recipe`).")
    device: str = "auto"  # auto = CUDA when present; features and text vectors stay on CPU until a batch needs them
