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
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from seal_model.batching import length_sorted_batches
from seal_model.data.speech_cache import CachedClip, run_shard_paths, save_npz_atomically
from seal_model.device import resolve_device
from seal_model.jsonl import read_jsonl
from seal_model.model import SealModel


@dataclass
class TrainConfig:
    run_dir: str
    cache_dir: str
    corpus_dir: str
    whisper_dir: str
    text_dir: str
    seed: int = 0
    batch_size: int = 48
    # CTC-only steps (ctc length adapter only); None = 600 from scratch, none on a warm start.
    # A warm start may still ask for them: they are the cheap way to train the recogniser longer.
    stage0_steps: int | None = None
    stage1_steps: int = 1500
    stage2_steps: int = 1000
    lr: float = 1e-3
    stage2_lr_scale: float = 0.3
    warmup_steps: int = 100
    temperature: float = 0.05
    hard_negatives: int = 2
    ctc_weight: float = 0.2
    align_weight: float = 1.0
    inbatch_weight: float = 0.5
    retrieval_weight: float = 1.0
    ctc_vocab_size: int = 8000  # word pieces with their own CTC output row
    ctc_full_vocab: bool = True  # every other word piece too (a warm start may add them)
    projection: str = "speech"  # stock text tower; "shared" trains one layer on both (legacy)
    spec_augment: bool = False  # time and channel masks on the cached features of training batches
    length_adapter: str = "ctc"
    conv_kernel: int = 5
    conv_stride: int = 4
    trainable_text_layers: int = 0
    adapter_layers: int = 0  # transformer layers over the conv frames (a warm start may add them)
    text_layer_lr_scale: float = 0.1  # fine-tuned text layers learn at lr x this (x the stage's scale)
    speech_pooling: str = "mean"
    max_shards: int | None = None
    shards: str | None = None  # e.g. "55-84,133-162": these shards instead of a prefix
    init_from: str | None = None  # warm start: a checkpoint folder whose architecture and weights we continue
    cosent_weight: float = 0.0
    cosent_scale: float = 20.0
    sentence_queries: bool = False  # stage 2 also retrieves each spoken passage sentence's own passage
    threads: int = 2
    eval_every: int = 250
    dev_kb_size: int = 5000
    recipe: str = "plain"  # which feature cache (speech_cache.RECIPES); recorded for the data card
    device: str = "auto"  # auto = CUDA when present; features and text vectors stay on CPU until a batch needs them


# ----- data ---------------------------------------------------------------------------------
def pooled_text_vectors(model: SealModel, texts: list[str], cache: Path, log: Callable) -> dict[str, np.ndarray]:
    """Frozen text-encoder pooled vectors (before the shared layer), cached by text."""
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as saved:
            known = dict(zip(saved["texts"].tolist(), saved["vectors"]))
    missing = sorted({t for t in texts if t not in known}, key=len)
    if missing:
        log(f"encoding {len(missing)} texts with the frozen text encoder ...")
        was_training = model.text_encoder.training
        model.text_encoder.eval()  # training mode would add dropout noise to every target vector
        with torch.inference_mode():
            for start in range(0, len(missing), 128):
                chunk = missing[start : start + 128]
                vectors = model.text_encoder.forward_features(chunk).float().cpu().numpy()
                known.update(zip(chunk, vectors))
                if (start // 128) % 40 == 39 or start + 128 >= len(missing):  # resumable
                    save_npz_atomically(cache, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
                    log(f"  {min(start + 128, len(missing))}/{len(missing)} texts encoded")
        model.text_encoder.train(was_training)
    return known


def pick_hard_negatives(query: str, gold: str, ranked: list[str], passages: dict[str, dict], count: int) -> list[str]:
    """The first `count` ranked passages that are neither gold nor hold the query's exact words.

    Why the second rule: a spoken passage sentence's own words often recur in a near-duplicate
    VitaminC snippet of its passage, which would be a false negative."""
    return [pid for pid in ranked if pid != gold and query not in passages[pid]["text"]][:count]


def choose_ctc_vocab(tokenizer, texts: list[str], size: int) -> list[int]:
    """The most frequent word pieces of the training texts (rare ones share an 'other' class)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    return sorted(token for token, _ in counts.most_common(size))


def length_batches(clips: list[CachedClip], indices: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (padding wastes CPU), in random order."""
    indices = indices[:]
    rng.shuffle(indices)
    batches = []
    pool = 50 * batch_size
    for start in range(0, len(indices), pool):
        chunk = indices[start : start + pool]
        batches += [[chunk[k] for k in idx] for idx in length_sorted_batches(chunk, batch_size, key=lambda i: len(clips[i].features))]
    rng.shuffle(batches)
    return [b for b in batches if len(b) > 1]


def collate(clips: list[CachedClip], masking: random.Random | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded features and their frame mask; with a `masking` generator, SpecAugment-style
    masks (two time spans of up to 5% of the clip, two channel bands of up to 6%) are zeroed."""
    steps = max(len(c.features) for c in clips)
    width = clips[0].features.shape[1]
    feats = np.zeros((len(clips), steps, width), dtype=np.float32)
    mask = np.zeros((len(clips), steps), dtype=np.float32)
    for i, clip in enumerate(clips):
        length = len(clip.features)
        feats[i, :length] = clip.features
        mask[i, :length] = 1
        if masking is not None:
            for _ in range(2):
                span = masking.randint(0, max(1, length // 20))
                start = masking.randint(0, max(0, length - span))
                feats[i, start : start + span] = 0
                band = masking.randint(0, width * 6 // 100)
                low = masking.randint(0, width - band)
                feats[i, :length, low : low + band] = 0
    return torch.from_numpy(feats), torch.from_numpy(mask)


# ----- losses -------------------------------------------------------------------------------
def info_nce(queries: torch.Tensor, keys: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    return nn.functional.cross_entropy(queries @ keys.T / temperature, targets)


def cosent(scores: torch.Tensor, teacher: torch.Tensor, scale: float) -> torch.Tensor:
    """CoSENT (Su 2022) on graded similarity: for every pair of cells in a row that the teacher
    orders (teacher[i, a] > teacher[i, b]), penalise exp(scale * (score[i, b] - score[i, a])).

    Rows are spoken questions, columns the batch's passages; the teacher is the frozen text
    tower's cosine for the question's own words (gold set above everything), so the speech side
    learns the text side's whole ranking, not only which passage is gold."""
    violation = scale * (scores[:, None, :] - scores[:, :, None])  # [i, a, b] = s_ib - s_ia
    ordered = teacher[:, :, None] > teacher[:, None, :]  # a above b
    terms = violation.masked_fill(~ordered, float("-inf")).flatten()
    return torch.logsumexp(torch.cat([terms.new_zeros(1), terms]), dim=0)


def ctc_classes(model: SealModel) -> dict[int, int]:
    """Token id -> CTC class; with the "other" class (no full vocabulary) every token missing
    here falls in it, the class after the last one listed."""
    return {token: k + 1 for k, token in enumerate(model.ctc_ids[1:].tolist())}


def ctc_loss(model: SealModel, log_probs: torch.Tensor, lengths: torch.Tensor, texts: list[str], class_of: dict[int, int]) -> torch.Tensor:
    tokenizer = model.text_encoder.tokenizer
    if model.config.ctc_full_vocab:
        # No "other" class: a token without a class ([UNK], for characters the tokenizer cannot
        # spell) is left out of the target. Mapping it past the last class made the loss NaN
        # and poisoned every weight in one step.
        targets = [[class_of[t] for t in tokenizer(text, add_special_tokens=False)["input_ids"] if t in class_of]
                   for text in texts]
    else:
        other = len(class_of) + 1
        targets = [[class_of.get(t, other) for t in tokenizer(text, add_special_tokens=False)["input_ids"]] for text in texts]
    flat = torch.tensor([c for t in targets for c in t], dtype=torch.long, device=log_probs.device)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    return nn.functional.ctc_loss(
        log_probs.transpose(0, 1), flat, lengths.cpu(), target_lengths, blank=0, zero_infinity=True
    )


# ----- evaluation ---------------------------------------------------------------------------
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
class TrainingData:
    """Cached clips, passages, frozen text vectors and mined hard negatives.

    Clips are re-read while the CTC warm-up runs, so a feature cache that is still being
    built in the background keeps feeding training; text vectors and negatives are computed
    once the contrastive stages need them, and for clips that arrive after that, as they arrive.
    """

    def __init__(self, cfg: TrainConfig, log: Callable[[str], None]):
        self.cfg, self.log = cfg, log
        self.passages = {p["id"]: p for p in read_jsonl(Path(cfg.corpus_dir) / "passages.jsonl")}
        self.clips: list[CachedClip] = []
        self.shards_loaded = 0
        self.vectors: dict[str, np.ndarray] = {}
        self.hard: dict[str, list[str]] = {}
        self.model: SealModel | None = None
        self.reload()

    def reload(self) -> None:
        paths = run_shard_paths(Path(self.cfg.cache_dir), asdict(self.cfg))
        if len(paths) > self.shards_loaded:
            from seal_model.data.speech_cache import load_shard

            for path in paths[self.shards_loaded :]:
                self.clips += load_shard(path)
            self.shards_loaded = len(paths)
            hours = sum(len(c.features) for c in self.clips) / 50 / 3600
            self.log(f"{len(self.clips)} cached clips ({self.shards_loaded} shards, {hours:.1f} h of speech)")
            if self.model is not None:  # the contrastive stages' vectors and negatives for the new clips
                self._encode_and_mine()

    def indices(self, kind: str | None, split: str) -> list[int]:
        return [i for i, c in enumerate(self.clips) if c.item.split == split and (kind is None or c.item.kind == kind)]

    def retrieval_indices(self) -> list[int]:
        """Stage 2's training queries: spoken questions, plus passage sentences when asked for."""
        kinds = {"question", "sentence"} if self.cfg.sentence_queries else {"question"}
        return [i for i, c in enumerate(self.clips) if c.item.split == "train" and c.item.kind in kinds and c.item.gold]

    def teacher_scores(self, questions: list[str], passage_ids: list[str]) -> torch.Tensor:
        """The frozen text tower's cosine of each question's own words with each passage."""
        q = nn.functional.normalize(torch.from_numpy(np.stack([self.vectors[t] for t in questions])), dim=-1)
        p = nn.functional.normalize(
            torch.from_numpy(np.stack([self.vectors[self.passages[i]["text"]] for i in passage_ids])), dim=-1
        )
        return q.float() @ p.float().T

    def prepare_contrastive(self, model: SealModel, rng: random.Random) -> None:
        cfg = self.cfg
        self.model = model
        self.train_ids = [pid for pid, p in self.passages.items() if p["split"] == "train"]
        self.dev_passage_ids = [pid for pid, p in self.passages.items() if p["split"] == "dev"]
        self.dev_passage_ids += rng.sample(self.train_ids, min(cfg.dev_kb_size, len(self.train_ids)))
        self._encode_and_mine()
        self.dev_vecs = np.stack([self.vectors[self.passages[p]["text"]] for p in self.dev_passage_ids])

    def _encode_and_mine(self) -> None:
        """Frozen text vectors for every clip and passage text not yet encoded (cached on disk),
        and hard negatives for every stage-2 query that has none yet."""
        cfg, train_ids = self.cfg, self.train_ids
        cache_file = Path(cfg.cache_dir).parent / f"text_vectors_{self.model.config.text_encoder_fingerprint}.npz"
        texts = [c.item.text for c in self.clips]
        texts += [self.passages[p]["text"] for p in set(train_ids) | set(self.dev_passage_ids)]
        if any(t not in self.vectors for t in texts):
            self.vectors = pooled_text_vectors(self.model, texts, cache_file, self.log)
        # Hard negatives: train passages the frozen text tower ranks highest for the question's text.
        matrix = nn.functional.normalize(
            torch.from_numpy(np.stack([self.vectors[self.passages[p]["text"]] for p in train_ids])), dim=-1
        )
        questions = sorted({self.clips[i].item.text: self.clips[i].item.gold[0] for i in self.retrieval_indices()
                            if self.clips[i].item.text not in self.hard}.items())
        for start in range(0, len(questions), 512):
            chunk = questions[start : start + 512]
            q = nn.functional.normalize(torch.from_numpy(np.stack([self.vectors[t] for t, _ in chunk])), dim=-1)
            top = (q @ matrix.T).topk(min(cfg.hard_negatives + 4, len(train_ids)), dim=1).indices.tolist()
            for (text, gold), ranked in zip(chunk, top):
                self.hard[text] = pick_hard_negatives(text, gold, [train_ids[r] for r in ranked], self.passages, cfg.hard_negatives)


def ctc_phase_steps(cfg: TrainConfig, use_ctc: bool) -> int:
    """CTC-only steps this run takes: none without a CTC head; 600 by default from scratch, none
    by default on a warm start (whose head is trained), as many as asked for otherwise."""
    if not use_ctc:
        return 0
    if cfg.stage0_steps is None:
        return 0 if cfg.init_from else 600
    return cfg.stage0_steps


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> Path:
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    torch.set_num_threads(cfg.threads)

    data = TrainingData(cfg, log)
    if cfg.init_from:  # warm start: the checkpoint fixes the architecture; its weights are the start
        model = SealModel.load(cfg.init_from, cfg.whisper_dir, cfg.text_dir, with_speech_encoder=False)
        # The changes a warm start may make: more fine-tuned text layers, more adapter layers,
        # each added so that the model still computes the checkpoint's function at step 0.
        if cfg.trainable_text_layers > model.config.trainable_text_layers:
            model = model.with_trainable_text_layers(cfg.trainable_text_layers)
        if cfg.adapter_layers > model.config.adapter_layers:
            model = model.with_adapter_layers(cfg.adapter_layers)
        if cfg.ctc_full_vocab and not model.config.ctc_full_vocab and model.config.length_adapter == "ctc":
            model = model.with_full_vocab()
        if cfg.projection == "speech" and model.config.projection == "shared":
            model = model.with_speech_projection()
        model.train()
        log(f"warm start from {cfg.init_from} (its architecture, {model.config.trainable_text_layers} fine-tuned "
            f"text layers, {model.config.adapter_layers} adapter layers, full vocabulary {model.config.ctc_full_vocab}, "
            f"projection {model.config.projection})")
    else:
        base = SealModel.from_base_models(cfg.whisper_dir, cfg.text_dir, with_speech_encoder=False, length_adapter=cfg.length_adapter)
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
        model = SealModel(config, None, base.text_encoder)
    class_of = ctc_classes(model)
    use_ctc = model.config.length_adapter == "ctc"
    stage0 = ctc_phase_steps(cfg, use_ctc)
    bounds = (stage0, stage0 + cfg.stage1_steps, stage0 + cfg.stage1_steps + cfg.stage2_steps)
    # The settings plus the steps each stage actually runs (a mean-pool adapter has no CTC
    # warm-up whatever stage0_steps says): the data card reads them from here.
    ran = {"steps_run": {"ctc_warmup": stage0, "stage1": cfg.stage1_steps, "stage2": cfg.stage2_steps}}
    (run_dir / "train_config.json").write_text(json.dumps({**asdict(cfg), **ran}, indent=2))

    def stage_of(s: int) -> int:
        return 0 if s < bounds[0] else 1 if s < bounds[1] else 2

    device = resolve_device(cfg.device)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # Fine-tuned text layers start pretrained: they move at a fraction of the adapters' rate.
    text_layers = {id(p) for p in model.speech_top_layers.parameters()}
    groups = [{"params": [p for p in trainable if id(p) not in text_layers], "lr_scale": 1.0}]
    if text_layers:
        groups.append({"params": [p for p in trainable if id(p) in text_layers], "lr_scale": cfg.text_layer_lr_scale})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=0.01)
    step = 0
    state_file = run_dir / "state.pt"
    if state_file.exists():
        state = torch.load(state_file, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, rng = state["step"], state["rng"]
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed at step {step}")

    def lr_at(s: int) -> float:
        stage = stage_of(s)
        begin = (0, bounds[0], bounds[1])[stage]
        length = max(bounds[stage] - begin, 1)
        scale = cfg.stage2_lr_scale if stage == 2 else 1.0
        warm = min(1.0, (s - begin + 1) / cfg.warmup_steps)
        return cfg.lr * scale * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - begin) / length)))

    def text_keys(texts: list[str]) -> torch.Tensor:
        return model.project_text(torch.from_numpy(np.stack([data.vectors[t] for t in texts])).to(device))

    log_file = run_dir / "loss.csv"
    new_log = not log_file.exists() or step == 0
    log_fh = open(log_file, "w" if new_log else "a", newline="")
    writer = csv.writer(log_fh)
    if new_log:
        writer.writerow(["step", "stage", "loss", "align", "inbatch", "ctc", "retrieval", "cosent", "lr", "dev_top1", "dev_top10", "seconds"])
    queue: list[list[int]] = []
    queue_stage = -1
    started = time.perf_counter()
    model.train()
    while step < bounds[2]:
        stage = stage_of(step)
        # A warm start measures its starting point before any step, CTC phase included.
        if (stage > 0 or (cfg.init_from and step == 0)) and not data.vectors:
            data.prepare_contrastive(model, rng)
            dev_idx = data.indices("question", "dev")[:600]
            log(f"contrastive stages: {len(data.indices(None, 'train'))} clips, "
                f"{len(data.indices('question', 'train'))} spoken questions, {len(data.retrieval_indices())} "
                f"stage-2 queries, {len(dev_idx)} dev")
            if cfg.init_from and step == 0:  # where the warm start begins, on this run's dev set
                model.eval()
                start_dev = dev_retrieval(model, data.clips, dev_idx, data.dev_passage_ids, data.dev_vecs)
                model.train()
                (run_dir / "start_dev.json").write_text(json.dumps(start_dev))
                log(f"dev before training: {start_dev}")
        if not queue or stage != queue_stage:
            if stage == 0:  # the cache may still be growing in the background
                data.reload()
            pool = data.retrieval_indices() if stage == 2 else data.indices(None, "train")
            queue, queue_stage = length_batches(data.clips, pool, cfg.batch_size, rng), stage
        batch = [data.clips[i] for i in queue.pop()]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step) * group["lr_scale"]
        texts = [c.item.text for c in batch]
        features = collate(batch, rng if cfg.spec_augment else None)
        zero = torch.zeros((), device=device)
        align = inbatch = retrieval = ctc = similarity = zero
        if stage == 0:
            out = model.ctc_forward(*features)
            ctc = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, texts, class_of)
            loss = ctc
        else:
            out = model.speech_forward(*features)
            unique_texts = sorted(set(texts))
            targets = text_keys(unique_texts)
            own = torch.tensor([unique_texts.index(t) for t in texts], device=device)
            align = ((out.embedding - targets[own]) ** 2).sum(-1).mean()
            inbatch = info_nce(out.embedding, targets, own, cfg.temperature)
            if use_ctc:
                ctc = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, texts, class_of)
            if stage == 2:
                columns = sorted({c.item.gold[0] for c in batch} | {n for c in batch for n in data.hard.get(c.item.text, [])})
                keys = text_keys([data.passages[p]["text"] for p in columns])
                gold = torch.tensor([columns.index(c.item.gold[0]) for c in batch], device=device)
                retrieval = info_nce(out.embedding, keys, gold, cfg.temperature)
                if cfg.cosent_weight:
                    teacher = data.teacher_scores(texts, columns).to(device)
                    teacher[torch.arange(len(batch), device=device), gold] = 2.0  # gold above any cosine
                    similarity = cosent(out.embedding @ keys.T, teacher, cfg.cosent_scale)
            loss = (cfg.align_weight * align + cfg.inbatch_weight * inbatch + cfg.ctc_weight * ctc
                    + cfg.retrieval_weight * retrieval + cfg.cosent_weight * similarity)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        step += 1

        dev = {"dev_top1": "", "dev_top10": ""}
        if step % cfg.eval_every == 0 or step == bounds[2]:
            if stage > 0:
                model.eval()
                dev = dev_retrieval(model, data.clips, dev_idx, data.dev_passage_ids, data.dev_vecs)
                model.train()
            model.save(run_dir / "checkpoint")
            torch.save({"model": model.trained_state(), "optimizer": optimizer.state_dict(), "step": step,
                        "rng": rng, "torch_rng": torch.get_rng_state()}, state_file)
        writer.writerow([step, stage, f"{loss.item():.4f}", f"{align.item():.4f}", f"{inbatch.item():.4f}",
                         f"{ctc.item():.4f}", f"{retrieval.item():.4f}", f"{similarity.item():.4f}", f"{lr_at(step - 1):.2e}",
                         dev["dev_top1"], dev["dev_top10"], f"{time.perf_counter() - started:.0f}"])
        log_fh.flush()
        if step % 25 == 0 or dev["dev_top1"] != "":
            extra = f" dev top1 {dev['dev_top1']:.3f} top10 {dev['dev_top10']:.3f}" if dev["dev_top1"] != "" else ""
            log(f"step {step}/{bounds[2]} stage {stage} loss {loss.item():.3f} (align {align.item():.3f} "
                f"ctc {ctc.item():.2f} ret {retrieval.item():.3f}) {time.perf_counter() - started:.0f}s{extra}")
    log_fh.close()
    if step == 0:  # a run of no steps (a conversion: --stage*-steps 0) still leaves its checkpoint
        model.save(run_dir / "checkpoint")
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
    for key in [k for k in ("loss", "align", "inbatch", "ctc", "retrieval", "cosent") if k in rows[0]]:
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
