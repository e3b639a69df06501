"""The ablations the SEAL paper leaves open, each a short training run on one shared budget.

Variants differ from a base recipe (the paper-literal "conv" adapter: Conv1D -> MLP ->
text-encoder layers) in one choice only: the Conv1D stride (1/2/4/8), stage 1 on or off, and
the speech tower's pooling (mean/max/[CLS]); two more runs put the shipped design (the CTC
length adapter) at strides 4 and 8. Every run sees the same clips, seed and steps. All are
then measured in one pass on the same dev questions and dev knowledge base (training voices,
dev split; Top-1, Top-10 and the median rank of the gold passage, which still moves when
Top-1 is near zero) and timed waveform -> embedding on held-out clips. The budget is far below
the shipped checkpoint's, so the table ranks choices; its absolute numbers are not the
shipped model's.
"""
from __future__ import annotations

import csv
import json
import random
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np

from evaluation.latency import percentiles
from evaluation.variants import VARIANTS, Budget, Variant
from seal_model.checkpoint import load_checkpoint
from seal_model.data.training_data import TrainingData
from seal_model.device import describe_device
from seal_model.train import TrainConfig, dev_retrieval, train

Log = Callable[[str], None]


def variant_config(base: TrainConfig, variant: Variant, budget: Budget, runs_dir: Path) -> TrainConfig:
    stage0 = budget.stage0_steps if variant.length_adapter == "ctc" else 0
    total = budget.stage1_steps + budget.stage2_steps
    return replace(
        base, run_dir=str(runs_dir / variant.name), length_adapter=variant.length_adapter,
        conv_stride=variant.conv_stride, speech_pooling=variant.pooling, stage0_steps=stage0,
        stage1_steps=budget.stage1_steps if variant.stage1 else 0,
        stage2_steps=budget.stage2_steps if variant.stage1 else total,
        batch_size=budget.batch_size, max_shards=budget.max_shards, threads=budget.threads, eval_every=stage0 + total,
    )


def training_cost(run_dir: Path) -> dict:
    """Steps and wall time the run logged; refuses a run that has not finished."""
    rows = list(csv.DictReader(open(run_dir / "loss.csv")))
    if not rows or not rows[-1]["dev_top1"]:
        raise RuntimeError(f"{run_dir} did not finish (no final dev evaluation in loss.csv)")
    # from the end of the first step: that step also pays the one-off text-vector encoding
    return {"steps": int(rows[-1]["step"]), "train_s": float(rows[-1]["seconds"]) - float(rows[0]["seconds"])}


def speech_latency(model, clips: list[np.ndarray]) -> dict:
    """Waveform -> embedding, one clip at a time as the app does it, after one warm-up call;
    and how many tokens the text layers read (after the CTC collapse where there is one). The
    count needs a second, untimed pass: `embed_speech` returns only the embedding."""
    import torch

    model.embed_speech(clips[:1])
    times, tokens = [], []
    for clip in clips:
        start = time.perf_counter()
        model.embed_speech([clip])
        times.append((time.perf_counter() - start) * 1000)
        with torch.inference_mode():
            states, mask = model.speech_encoder(*model.speech_encoder.log_mel([clip]))
            tokens.append(int(model.text_layer_inputs(states, mask)[1].sum()))
    return {**percentiles(times), "text_layer_tokens_mean": float(np.mean(tokens))}


def run_ablations(base: TrainConfig, runs_dir: Path, budget: Budget, clips: list[np.ndarray],
                  variants: tuple[Variant, ...] = VARIANTS, log: Log = print) -> dict:
    """Train every variant (resuming finished or interrupted runs), then measure them all in
    one pass: dev retrieval on one dev KB for every variant (drawn as train() draws it for the
    conv runs, same seed; the CTC runs drew their own during training) and speech latency,
    so no figure depends on when its run happened."""
    configs = {v.name: variant_config(base, v, budget, runs_dir) for v in variants}
    for variant in variants:
        log(f"== {variant.name}: stride {variant.conv_stride}, stage 1 {'on' if variant.stage1 else 'off'}, "
            f"{variant.pooling} pooling")
        train(configs[variant.name], log=log)

    first = variant_config(base, VARIANTS[0], budget, runs_dir)  # every variant: the conv runs' dev KB
    data = TrainingData(first, log)
    rows = []
    for variant in variants:
        model = load_checkpoint(Path(configs[variant.name].run_dir) / "checkpoint", base.whisper_dir, base.text_dir)
        if not data.vectors:  # the dev KB, drawn once with the conv runs' seed and order
            data.prepare_contrastive(model, random.Random(first.seed))
        dev_idx = data.indices("question", "dev")[:600]
        row = {**asdict(variant), **training_cost(Path(configs[variant.name].run_dir)),
               **dev_retrieval(model, data.clips, dev_idx, data.dev_passage_ids, data.dev_vecs),
               **speech_latency(model, clips), "dev_questions": len(dev_idx), "dev_passages": len(data.dev_passage_ids)}
        rows.append(row)
        log(f"{row['name']}: dev Top-1 {row['dev_top1']:.3f}, Top-10 {row['dev_top10']:.3f}, median gold rank "
            f"{row['dev_median_rank']:.0f}, speech p50 {row['p50_ms']:.0f} ms, {row['text_layer_tokens_mean']:.0f} tokens")
    return {"budget": asdict(budget), "rows": rows, "device": describe_device(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(ablation: dict) -> str:
    b, r0 = ablation["budget"], ablation["rows"][0]
    lines = [f"**Ablations** (`seal-rag ablate`, {ablation['date']}, {ablation.get('device', 'device not recorded')}): "
             f"one short run per variant, each {b['stage1_steps'] + b['stage2_steps']} steps (stage 1 {b['stage1_steps']} "
             f"+ stage 2 {b['stage2_steps']}; CTC variants first get {b.get('stage0_steps', 0)} CTC warm-up steps), "
             f"batch {b['batch_size']}, {b['max_shards']} feature shards, one seed. Dev: {r0['dev_questions']} spoken dev "
             f"questions (training voices) against a {r0['dev_passages']:,}-passage dev KB (median gold rank: lower is "
             f"better; it still moves when Top-1 is near zero); latency: waveform -> embedding, "
             f"{b['latency_clips']} held-out clips. A short budget ranks choices; it is not the shipped model.", "",
             "| ablates | variant | adapter | stride | stage 1 | pooling | dev Top-1 | dev Top-10 | median gold rank | tokens into text layers | speech p50 (ms) | train (min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = [v.name for v in VARIANTS]
    for r in sorted(ablation["rows"], key=lambda r: order.index(r["name"]) if r["name"] in order else len(order)):
        lines.append(f"| {r['ablates']} | {r['name']} | {r.get('length_adapter', 'conv')} | {r['conv_stride']} | {'on' if r['stage1'] else 'off'} | "
                     f"{r['pooling']} | {r['dev_top1']:.3f} | {r['dev_top10']:.3f} | {r['dev_median_rank']:.0f} | {r['text_layer_tokens_mean']:.0f} | "
                     f"{r['p50_ms']:.0f} | {r['train_s'] / 60:.1f} |")
    return "\n".join(lines)


def plot(ablation: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strides = sorted((r for r in ablation["rows"] if r["ablates"] == "stride"), key=lambda r: r["conv_stride"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([r["conv_stride"] for r in strides], [r["dev_median_rank"] for r in strides], marker="o",
            label="median gold rank (lower is better)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Conv1D stride")
    ax.set_ylabel("rank")
    twin = ax.twinx()
    twin.plot([r["conv_stride"] for r in strides], [r["p50_ms"] for r in strides], color="grey", linestyle="--",
              marker="^", label="speech p50 (ms)")
    twin.set_ylabel("ms")
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", fontsize=8)
    ax.set_title("stride ablation (conv adapter)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(ablation: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablation.json").write_text(json.dumps(ablation, indent=2))
    plot(ablation, out_dir / "ablation.png")
