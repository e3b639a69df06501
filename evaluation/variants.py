"""The ablation variants and their shared budget: plain data, apart from the training code so the
command line builds `seal-rag ablate`'s options from `Budget` without importing torch."""
from __future__ import annotations

from dataclasses import dataclass

from seal_model.config import SealConfig
from seal_model.train_config import option


@dataclass(frozen=True)
class Variant:
    name: str
    ablates: str  # which question this run answers: "stride" | "stage1" | "pooling" | "ctc stride"
    conv_stride: int = SealConfig.conv_stride
    stage1: bool = True
    pooling: str = "mean"
    length_adapter: str = "conv"


VARIANTS = (
    Variant("stride1", "stride", conv_stride=1),
    Variant("stride2", "stride", conv_stride=2),
    Variant("stride4", "stride", conv_stride=4),  # also the base of the other two ablations
    Variant("stride8", "stride", conv_stride=8),
    Variant("no-stage1", "stage1", stage1=False),
    Variant("pool-max", "pooling", pooling="max"),
    Variant("pool-cls", "pooling", pooling="cls"),
    # the shipped design (CTC length adapter) at two strides: its CTC head needs frames at
    # least as dense as word pieces, so stride trades latency against what CTC can label
    Variant("ctc-stride4", "ctc stride", conv_stride=4, length_adapter="ctc"),
    Variant("ctc-stride8", "ctc stride", conv_stride=8, length_adapter="ctc"),
)


@dataclass
class Budget:
    """Steps are split between stages 1 and 2; with stage 1 off, stage 2 gets all of them, so
    every variant has the same contrastive budget. CTC variants add their warm-up before it."""

    stage1_steps: int = option(100)
    stage2_steps: int = option(150)
    stage0_steps: int = option(200, "CTC warm-up steps (CTC variants only).")  # cheap: no text layers
    batch_size: int = option(32)
    max_shards: int = option(20, "Feature shards every variant trains on.")
    threads: int = option(2)
    latency_clips: int = 20
