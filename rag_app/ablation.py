"""The ablations the SEAL paper leaves open, each a short training run on one shared budget.

Variants differ from a base recipe (the paper-literal "conv" adapter: Conv1D -> MLP ->
text-encoder layers) in one choice only: the Conv1D stride (1/2/4/8), stage 1 on or off, and
the speech tower's pooling (mean/max/[CLS]). Every run sees the same clips, seed, steps and
dev set, so differences come from the choice, not the data. Accuracy is dev Top-1/Top-10 at
the end of the run (spoken dev questions, training voices, a 5k-passage dev knowledge base);
latency is waveform -> embedding on held-out clips, measured for every variant in one process
after training. The budget is far below the shipped checkpoint's, so the table ranks choices;
its absolute numbers are not the shipped model's.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from rag_app.evaluate import percentiles
from seal_model.train import TrainConfig, train

Log = Callable[[str], None]


@dataclass(frozen=True)
class Variant:
    name: str
    ablates: str  # which question this run answers: "stride" | "stage1" | "pooling"
    conv_stride: int = 4
    stage1: bool = True
    pooling: str = "mean"


VARIANTS = (
    Variant("stride1", "stride", conv_stride=1),
    Variant("stride2", "stride", conv_stride=2),
    Variant("stride4", "stride", conv_stride=4),  # also the base of the other two ablations
    Variant("stride8", "stride", conv_stride=8),
    Variant("no-stage1", "stage1", stage1=False),
    Variant("pool-max", "pooling", pooling="max"),
    Variant("pool-cls", "pooling", pooling="cls"),
)


@dataclass
class Budget:
    """Steps are split between the stages; with stage 1 off, stage 2 gets all of them, so every
    variant trains for the same number of steps."""

    stage1_steps: int = 150
    stage2_steps: int = 250
    batch_size: int = 32
    max_shards: int = 20
    threads: int = 2
    latency_clips: int = 20


def variant_config(base: TrainConfig, variant: Variant, budget: Budget, runs_dir: Path) -> TrainConfig:
    total = budget.stage1_steps + budget.stage2_steps
    return replace(
        base, run_dir=str(runs_dir / variant.name), length_adapter="conv", conv_stride=variant.conv_stride,
        speech_pooling=variant.pooling, stage0_steps=0,
        stage1_steps=budget.stage1_steps if variant.stage1 else 0,
        stage2_steps=budget.stage2_steps if variant.stage1 else total,
        batch_size=budget.batch_size, max_shards=budget.max_shards, threads=budget.threads, eval_every=total,
    )


def last_dev(run_dir: Path) -> dict:
    """The final dev evaluation and wall time the run logged."""
    rows = list(csv.DictReader(open(run_dir / "loss.csv")))
    evaluated = [r for r in rows if r["dev_top1"]]
    if not evaluated:
        raise RuntimeError(f"{run_dir} has no dev evaluation: did its training finish?")
    last = evaluated[-1]
    return {"dev_top1": float(last["dev_top1"]), "dev_top10": float(last["dev_top10"]),
            "steps": int(last["step"]), "train_s": float(rows[-1]["seconds"])}


def speech_latency(checkpoint: Path, whisper_dir: Path, text_dir: Path, clips: list[np.ndarray]) -> dict:
    """Waveform -> embedding, one clip at a time as the app does it, after one warm-up call."""
    import torch

    from seal_model.model import SealModel, conv_lengths

    model = SealModel.load(checkpoint, whisper_dir, text_dir)
    model.embed_speech(clips[:1])
    times, tokens = [], []
    with torch.inference_mode():
        for clip in clips:
            start = time.perf_counter()
            model.embed_speech([clip])
            times.append((time.perf_counter() - start) * 1000)
            _, frames = model.speech_encoder.log_mel([clip])
            whisper_frames = (frames + 1) // 2  # the encoder's strided conv halves the mel rate
            tokens.append(int(conv_lengths(whisper_frames, model.config.conv_kernel, model.config.conv_stride)) + 2)
    return {**percentiles(times), "text_layer_tokens_mean": float(np.mean(tokens))}  # + 2: [CLS], [SEP]


def run_ablations(base: TrainConfig, runs_dir: Path, budget: Budget, clips: list[np.ndarray],
                  variants: tuple[Variant, ...] = VARIANTS, log: Log = print) -> dict:
    """Train every variant (resuming finished or interrupted runs), then time them all."""
    rows = []
    for variant in variants:
        cfg = variant_config(base, variant, budget, runs_dir)
        log(f"== {variant.name}: stride {variant.conv_stride}, stage 1 {'on' if variant.stage1 else 'off'}, "
            f"{variant.pooling} pooling")
        train(cfg, log=log)
        rows.append({**asdict(variant), **last_dev(Path(cfg.run_dir))})
    for row in rows:
        row.update(speech_latency(runs_dir / row["name"] / "checkpoint", Path(base.whisper_dir), Path(base.text_dir), clips))
        log(f"{row['name']}: dev Top-1 {row['dev_top1']:.3f}, Top-10 {row['dev_top10']:.3f}, "
            f"speech p50 {row['p50_ms']:.0f} ms, {row['text_layer_tokens_mean']:.0f} tokens")
    return {"budget": asdict(budget), "adapter": "conv", "rows": rows,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(ablation: dict) -> str:
    b = ablation["budget"]
    lines = [f"**Ablations** (`seal-rag ablate`, {ablation['date']}): the paper-literal conv adapter, each run "
             f"{b['stage1_steps'] + b['stage2_steps']} steps (stage 1 {b['stage1_steps']} + stage 2 {b['stage2_steps']}), "
             f"batch {b['batch_size']}, {b['max_shards']} feature shards, one seed. Dev Top-1/Top-10: spoken dev "
             f"questions (training voices) against a 5k-passage dev KB; latency: waveform -> embedding, "
             f"{b['latency_clips']} held-out clips. A short budget ranks choices; it is not the shipped model.", "",
             "| ablates | variant | stride | stage 1 | pooling | dev Top-1 | dev Top-10 | tokens into text layers | speech p50 (ms) | train (min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in ablation["rows"]:
        lines.append(f"| {r['ablates']} | {r['name']} | {r['conv_stride']} | {'on' if r['stage1'] else 'off'} | "
                     f"{r['pooling']} | {r['dev_top1']:.3f} | {r['dev_top10']:.3f} | {r['text_layer_tokens_mean']:.0f} | "
                     f"{r['p50_ms']:.0f} | {r['train_s'] / 60:.1f} |")
    return "\n".join(lines)


def plot(ablation: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strides = sorted((r for r in ablation["rows"] if r["ablates"] == "stride"), key=lambda r: r["conv_stride"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([r["conv_stride"] for r in strides], [r["dev_top1"] for r in strides], marker="o", label="dev Top-1")
    ax.plot([r["conv_stride"] for r in strides], [r["dev_top10"] for r in strides], marker="s", label="dev Top-10")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Conv1D stride")
    ax.set_ylabel("accuracy")
    twin = ax.twinx()
    twin.plot([r["conv_stride"] for r in strides], [r["p50_ms"] for r in strides], color="grey", linestyle="--",
              marker="^", label="speech p50 (ms)")
    twin.set_ylabel("ms")
    fig.legend(loc="upper center", ncol=3, fontsize=8)
    ax.set_title("stride ablation", pad=22)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(ablation: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablation.json").write_text(json.dumps(ablation, indent=2))
    plot(ablation, out_dir / "ablation.png")
