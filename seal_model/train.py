"""Two-stage SEAL training on cached Whisper features, readable top to bottom.

Stage 1 (alignment): each spoken sentence or question is pulled onto the text tower's
embedding of the same words: MSE between the two normalised vectors (the sequence-length
mismatch is resolved by pooling both sides; with the CTC length adapter a CTC loss on the
text encoder's word pieces adds token-level alignment), plus a half-weight in-batch InfoNCE
so different sentences stay apart.
Stage 2 (retrieval): spoken questions -> gold passage by InfoNCE over the batch's passages
plus mined hard negatives (the passages the text tower ranks highest for the question's own
text that are not gold), keeping the stage-1 terms so the speech side does not drift.
With `sentence_queries`, spoken passage sentences join stage 2 as extra queries whose gold is
the passage they were cut from (an inverse-cloze-style task): they bring words and passages no
training question covers, where more voices for the same questions had levelled off.
Optionally (`cosent_weight`) a CoSENT term teaches the speech side the text tower's graded
ranking of the batch's passages for the same words. There is no class label in this data that
a retrieval user cares about (the source dataset is not one), so the paper's contrastive
classification task has nothing to train on here.
A run can warm-start from a shipped checkpoint (`init_from`) and train on a chosen set of
shards (`shards`), e.g. the questions again in new voices, without rebuilding earlier data.

The text encoder is frozen and stock, so its pooled vectors for every text are computed once;
only the speech side learns: adapter, CTC head, speech projection (and optional copied text
layers). With `spec_augment`, cached features get SpecAugment-style time and channel masks. Deterministic given the seed on CPU; checkpoints every `eval_every`
steps and resumes from them. Runs on CUDA when present (`device`): cached features and text
vectors stay in host memory and only each batch moves.
"""
from __future__ import annotations

import csv
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seal_model.checkpoint import load_checkpoint, new_model, save_checkpoint
from seal_model.data.training_data import TrainingData, collate, length_batches
from seal_model.device import resolve_device
from seal_model.growth import grown_for_warm_start
from seal_model.losses import choose_ctc_vocab, cosent, ctc_classes, ctc_loss, info_nce
from seal_model.model import SealModel
from seal_model.train_config import TrainConfig

__all__ = ["TrainConfig", "ctc_phase_steps", "dev_retrieval", "plot_losses", "train"]

Log = Callable[[str], None]
LOSSES = ("loss", "align", "inbatch", "ctc", "retrieval", "cosent")  # the columns of loss.csv, in order
DEV_QUESTIONS = 600  # spoken dev questions measured at every evaluation


@torch.inference_mode()
def dev_retrieval(model: SealModel, clips, dev_idx, passage_ids, passage_vecs) -> dict[str, float]:
    """Top-1/Top-10 of spoken dev questions against a dev knowledge base (training voices), and
    the median rank of the gold passage, which still moves when Top-1 is near zero."""
    keys = model.project_text(torch.from_numpy(passage_vecs).to(model.device)).cpu().numpy()
    row_of = {pid: i for i, pid in enumerate(passage_ids)}
    ranks = []
    for start in range(0, len(dev_idx), 64):
        batch = [clips[i] for i in dev_idx[start : start + 64]]
        scores = model.speech_forward(*collate(batch)).embedding.cpu().numpy() @ keys.T
        for clip, row in zip(batch, scores):
            gold = [row_of[g] for g in clip.item.gold if g in row_of]
            ranks.append(int((row > row[gold].max()).sum()) + 1 if gold else len(passage_ids) + 1)
    if not ranks:  # no dev questions: nothing found, the gold passage ranked past the end
        return {"dev_top1": 0.0, "dev_top10": 0.0, "dev_median_rank": float(len(passage_ids) + 1)}
    ranks_array = np.array(ranks)
    return {"dev_top1": float((ranks_array == 1).mean()), "dev_top10": float((ranks_array <= 10).mean()),
            "dev_median_rank": float(np.median(ranks_array))}


# ----- the loop -----------------------------------------------------------------------------


def ctc_phase_steps(cfg: TrainConfig, use_ctc: bool) -> int:
    """CTC-only steps this run takes: none without a CTC head; 600 by default from scratch, none
    by default on a warm start (whose head is trained), as many as asked for otherwise."""
    if not use_ctc:
        return 0
    if cfg.stage0_steps is None:
        return 0 if cfg.init_from else 600
    return cfg.stage0_steps


@dataclass
class Schedule:
    """Where each stage ends (stage 0: CTC only, 1: alignment, 2: retrieval) and the learning rate
    at every step: linear warm-up, then cosine decay to a tenth, restarted at each stage."""

    bounds: tuple[int, int, int]
    cfg: TrainConfig

    @classmethod
    def of(cls, cfg: TrainConfig, ctc_steps: int) -> "Schedule":
        return cls((ctc_steps, ctc_steps + cfg.stage1_steps, ctc_steps + cfg.stage1_steps + cfg.stage2_steps), cfg)

    @property
    def total(self) -> int:
        return self.bounds[2]

    def stage_of(self, step: int) -> int:
        return 0 if step < self.bounds[0] else 1 if step < self.bounds[1] else 2

    def lr_at(self, step: int) -> float:
        stage = self.stage_of(step)
        begin = (0, self.bounds[0], self.bounds[1])[stage]
        length = max(self.bounds[stage] - begin, 1)
        scale = self.cfg.stage2_lr_scale if stage == 2 else 1.0
        warm = min(1.0, (step - begin + 1) / self.cfg.warmup_steps)
        return self.cfg.lr * scale * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - begin) / length)))


def initial_model(cfg: TrainConfig, data: TrainingData, log: Log) -> SealModel:
    """A warm start's checkpoint (grown as the config asks), or a fresh model whose CTC classes
    are the training texts' most frequent word pieces (kept from the saved config on resume)."""
    if cfg.init_from:
        model = load_checkpoint(cfg.init_from, cfg.whisper_dir, cfg.text_dir, with_speech_encoder=False)
        model = grown_for_warm_start(model, cfg.trainable_text_layers, cfg.adapter_layers, cfg.ctc_full_vocab,
                                     cfg.projection)
        model.train()
        log(f"warm start from {cfg.init_from} (its architecture, {model.config.trainable_text_layers} fine-tuned "
            f"text layers, {model.config.adapter_layers} adapter layers, full vocabulary {model.config.ctc_full_vocab}, "
            f"projection {model.config.projection})")
        return model
    base = new_model(cfg.whisper_dir, cfg.text_dir, with_speech_encoder=False, length_adapter=cfg.length_adapter)
    run_dir = Path(cfg.run_dir)
    saved = run_dir / "checkpoint" / "config.json"
    if (run_dir / "state.pt").exists() and saved.exists():  # resuming: the CTC classes must not move
        ctc_vocab = json.loads(saved.read_text())["ctc_vocab"]
    else:
        ctc_vocab = choose_ctc_vocab(base.text_encoder.tokenizer, [c.item.text for c in data.clips], cfg.ctc_vocab_size)
    config = type(base.config)(**{
        **asdict(base.config), "ctc_vocab": ctc_vocab, "conv_kernel": cfg.conv_kernel,
        "conv_stride": cfg.conv_stride, "trainable_text_layers": cfg.trainable_text_layers,
        "adapter_layers": cfg.adapter_layers, "ctc_full_vocab": cfg.ctc_full_vocab,
        "projection": cfg.projection, "speech_pooling": cfg.speech_pooling,
    })
    return SealModel(config, None, base.text_encoder)


def make_optimizer(model: SealModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over what trains; fine-tuned text layers start pretrained, so they move at a
    fraction of the adapters' rate (`lr_scale`, applied with the schedule)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    text_layers = {id(p) for p in model.speech_top_layers.parameters()}
    groups = [{"params": [p for p in trainable if id(p) not in text_layers], "lr_scale": 1.0}]
    if text_layers:
        groups.append({"params": [p for p in trainable if id(p) in text_layers], "lr_scale": cfg.text_layer_lr_scale})
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=0.01)


def batch_losses(model: SealModel, data: TrainingData, cfg: TrainConfig, batch, stage: int,
                 class_of: dict[int, int], rng: random.Random) -> dict[str, torch.Tensor]:
    """Every term of this stage's loss for one batch, and their weighted sum as "loss"."""
    device = model.device
    texts = [c.item.text for c in batch]
    features = collate(batch, rng if cfg.spec_augment else None)
    zero = torch.zeros((), device=device)
    terms = dict.fromkeys(LOSSES[1:], zero)
    if stage == 0:
        out = model.ctc_forward(*features)
        terms["ctc"] = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, texts, class_of)
        return {"loss": terms["ctc"], **terms}

    def text_keys(keyed: list[str]) -> torch.Tensor:
        return model.project_text(torch.from_numpy(np.stack([data.vectors[t] for t in keyed])).to(device))

    out = model.speech_forward(*features)
    unique_texts = sorted(set(texts))
    targets = text_keys(unique_texts)
    own = torch.tensor([unique_texts.index(t) for t in texts], device=device)
    terms["align"] = ((out.embedding - targets[own]) ** 2).sum(-1).mean()
    terms["inbatch"] = info_nce(out.embedding, targets, own, cfg.temperature)
    if model.config.length_adapter == "ctc":
        terms["ctc"] = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, texts, class_of)
    if stage == 2:
        columns = sorted({c.item.gold[0] for c in batch} | {n for c in batch for n in data.hard.get(c.item.text, [])})
        keys = text_keys([data.passages[p]["text"] for p in columns])
        gold = torch.tensor([columns.index(c.item.gold[0]) for c in batch], device=device)
        terms["retrieval"] = info_nce(out.embedding, keys, gold, cfg.temperature)
        if cfg.cosent_weight:
            teacher = data.teacher_scores(texts, columns).to(device)
            teacher[torch.arange(len(batch), device=device), gold] = 2.0  # gold above any cosine
            terms["cosent"] = cosent(out.embedding @ keys.T, teacher, cfg.cosent_scale)
    loss = (cfg.align_weight * terms["align"] + cfg.inbatch_weight * terms["inbatch"] + cfg.ctc_weight * terms["ctc"]
            + cfg.retrieval_weight * terms["retrieval"] + cfg.cosent_weight * terms["cosent"])
    return {"loss": loss, **terms}


def start_contrastive(model: SealModel, data: TrainingData, cfg: TrainConfig, rng: random.Random, log: Log,
                      measure_start: bool) -> list[int]:
    """Text vectors, negatives and the dev KB for stages 1-2, and the dev questions to measure on;
    `measure_start` records where a warm start begins on this run's dev set (`start_dev.json`,
    quoted in the data card)."""
    data.prepare_contrastive(model, rng)
    dev_idx = data.indices("question", "dev")[:DEV_QUESTIONS]
    log(f"contrastive stages: {len(data.indices(None, 'train'))} clips, "
        f"{len(data.indices('question', 'train'))} spoken questions, {len(data.retrieval_indices())} "
        f"stage-2 queries, {len(dev_idx)} dev")
    if measure_start:
        start_dev = evaluate_dev(model, data, dev_idx)
        (Path(cfg.run_dir) / "start_dev.json").write_text(json.dumps(start_dev))
        log(f"dev before training: {start_dev}")
    return dev_idx


def evaluate_dev(model: SealModel, data: TrainingData, dev_idx: list[int]) -> dict[str, float]:
    model.eval()
    result = dev_retrieval(model, data.clips, dev_idx, data.dev_passage_ids, data.dev_vecs)
    model.train()
    return result


def train(cfg: TrainConfig, log: Log = print) -> Path:
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    torch.set_num_threads(cfg.threads)

    data = TrainingData(cfg, log)
    model = initial_model(cfg, data, log)
    class_of = ctc_classes(model)
    ctc_steps = ctc_phase_steps(cfg, model.config.length_adapter == "ctc")
    schedule = Schedule.of(cfg, ctc_steps)
    # The settings plus the steps each stage actually runs (a mean-pool adapter has no CTC
    # warm-up whatever stage0_steps says): the data card reads them from here.
    ran = {"steps_run": {"ctc_warmup": ctc_steps, "stage1": cfg.stage1_steps, "stage2": cfg.stage2_steps}}
    (run_dir / "train_config.json").write_text(json.dumps({**asdict(cfg), **ran}, indent=2))

    model.to(resolve_device(cfg.device))
    optimizer = make_optimizer(model, cfg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    step, state_file = 0, run_dir / "state.pt"
    if state_file.exists():
        state = torch.load(state_file, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, rng = state["step"], state["rng"]
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed at step {step}")

    log_file = run_dir / "loss.csv"
    new_log = not log_file.exists() or step == 0
    with open(log_file, "w" if new_log else "a", newline="") as log_fh:
        writer = csv.writer(log_fh)
        if new_log:
            writer.writerow(["step", "stage", *LOSSES, "lr", "dev_top1", "dev_top10", "seconds"])
        queue: list[list[int]] = []
        queue_stage, dev_idx = -1, []
        started = time.perf_counter()
        model.train()
        while step < schedule.total:
            stage = schedule.stage_of(step)
            # A warm start measures its starting point before any step, CTC phase included.
            if (stage > 0 or (cfg.init_from and step == 0)) and not data.vectors:
                dev_idx = start_contrastive(model, data, cfg, rng, log, measure_start=bool(cfg.init_from) and step == 0)
            if not queue or stage != queue_stage:
                if stage == 0:  # the cache may still be growing in the background
                    data.reload()
                pool = data.retrieval_indices() if stage == 2 else data.indices(None, "train")
                queue, queue_stage = length_batches(data.clips, pool, cfg.batch_size, rng), stage
            batch = [data.clips[i] for i in queue.pop()]
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(step) * group["lr_scale"]
            losses = batch_losses(model, data, cfg, batch, stage, class_of, rng)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            step += 1

            dev = {"dev_top1": "", "dev_top10": ""}
            if step % cfg.eval_every == 0 or step == schedule.total:
                if stage > 0:
                    dev = evaluate_dev(model, data, dev_idx)
                save_checkpoint(model, run_dir / "checkpoint")
                torch.save({"model": model.trained_state(), "optimizer": optimizer.state_dict(), "step": step,
                            "rng": rng, "torch_rng": torch.get_rng_state()}, state_file)
            writer.writerow([step, stage, *(f"{losses[k].item():.4f}" for k in LOSSES), f"{schedule.lr_at(step - 1):.2e}",
                             dev["dev_top1"], dev["dev_top10"], f"{time.perf_counter() - started:.0f}"])
            log_fh.flush()
            if step % 25 == 0 or dev["dev_top1"] != "":
                extra = f" dev top1 {dev['dev_top1']:.3f} top10 {dev['dev_top10']:.3f}" if dev["dev_top1"] != "" else ""
                log(f"step {step}/{schedule.total} stage {stage} loss {losses['loss'].item():.3f} (align "
                    f"{losses['align'].item():.3f} ctc {losses['ctc'].item():.2f} ret {losses['retrieval'].item():.3f}) "
                    f"{time.perf_counter() - started:.0f}s{extra}")
    if step == 0:  # a run of no steps (a conversion: --stage*-steps 0) still leaves its checkpoint
        save_checkpoint(model, run_dir / "checkpoint")
    else:
        plot_losses(log_file, run_dir / "loss.png")
    return run_dir / "checkpoint"


def plot_losses(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(csv_path)))
    steps = [int(r["step"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key in [k for k in LOSSES if k in rows[0]]:
        values = np.array([float(r[key]) for r in rows])
        window = max(1, len(values) // 50)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax1.plot(steps[: len(smooth)], smooth, label=key)
    ax1.set_xlabel("step"), ax1.set_title("training losses (smoothed)"), ax1.legend()
    dev = [(int(r["step"]), float(r["dev_top1"]), float(r["dev_top10"])) for r in rows if r["dev_top1"]]
    if dev:
        ax2.plot([d[0] for d in dev], [d[1] for d in dev], "o-", label="dev Top-1")
        ax2.plot([d[0] for d in dev], [d[2] for d in dev], "o-", label="dev Top-10")
        ax2.set_title("dev retrieval (training voices)"), ax2.set_xlabel("step"), ax2.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
