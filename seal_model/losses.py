"""The training objectives: InfoNCE, CoSENT and CTC over the text encoder's word pieces."""
from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from seal_model.model import SealModel


def choose_ctc_vocab(tokenizer, texts: list[str], size: int) -> list[int]:
    """The most frequent word pieces of the training texts (rare ones share an 'other' class)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    return sorted(token for token, _ in counts.most_common(size))


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
