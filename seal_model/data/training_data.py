"""What training reads: cached clips, corpus passages, the frozen text tower's vectors and mined
hard negatives, batched by length and collated into padded feature tensors."""
from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from seal_model.batching import length_sorted_batches
from seal_model.data.speech_cache import CachedClip, load_shard, run_shard_paths, save_npz_atomically
from seal_model.jsonl import read_jsonl
from seal_model.model import SealModel

if TYPE_CHECKING:
    from seal_model.train_config import TrainConfig


def pooled_text_vectors(model: SealModel, texts: list[str], cache: Path, log: Callable) -> dict[str, np.ndarray]:
    """Frozen text-encoder pooled vectors (before any projection), cached by text."""
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
