"""A sentence-embedding text encoder built on plain transformers.

Why not sentence-transformers: SEAL needs the encoder's pieces separately (word embeddings,
transformer layers, pooling) so the speech tower can feed its adapted sequence through the
same layers. We read the sentence-transformers folder conventions (pooling mode, max length,
normalisation) so any such model folder, or a bare HF encoder, works.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seal_model.batching import length_sorted_batches


def _read_json(path: Path, empty: dict | list | None = None) -> dict | list:
    return json.loads(path.read_text()) if path.is_file() else ({} if empty is None else empty)


def pooling_mode(model_dir: Path) -> str:
    """'mean' or 'cls', from a sentence-transformers Pooling config; mean when absent."""
    for module in _read_json(model_dir / "modules.json", empty=[]):
        if module.get("type", "").endswith("Pooling"):
            config = _read_json(model_dir / module["path"] / "config.json")
            if config.get("pooling_mode_cls_token"):
                return "cls"
    return "mean"


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where mask is 1; the shape contract is (batch, time, dim)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Transformer + pooling + L2 normalisation, the way the model was trained to be used."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.transformer = AutoModel.from_pretrained(self.model_dir, dtype=torch.float32)
        self.pooling = pooling_mode(self.model_dir)
        st_config = _read_json(self.model_dir / "sentence_bert_config.json")
        self.max_length = int(st_config.get("max_seq_length", self.tokenizer.model_max_length or 512))
        self.max_length = min(self.max_length, self.transformer.config.max_position_embeddings)
        self.to(device).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dim(self) -> int:
        return int(self.transformer.config.hidden_size)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, mask)

    def forward_features(self, texts: list[str]) -> torch.Tensor:
        """Pooled, unnormalised sentence vectors (gradients flow when the caller allows)."""
        batch = self.tokenize(texts)
        hidden = self.transformer(**batch).last_hidden_state
        return self.pool(hidden, batch["attention_mask"])

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 embeddings, (n, dim). Sorted by length so padding stays small."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in length_sorted_batches(texts, batch_size, longest_first=True):
            vectors = nn.functional.normalize(self.forward_features([texts[i] for i in idx]), dim=-1)
            out[idx] = vectors.float().cpu().numpy()
        return out
