"""What the LLM reads of each passage: the sentences closest to the question, within a budget.

Why: on a CPU the LLM's prefill is most of the wait for the first word of an answer (SmolLM2-135M
in bfloat16 on 2 threads: ~0.2 s for 240 prompt tokens, ~0.8 s for 800), and the prompt is mostly
passages. A passage longer than the budget keeps its sentences most similar to the question (text
tower cosine, one batch for all passages), in their original order, until the budget is spent;
shorter passages are read whole. Sources shown to the user stay the whole passages.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

import numpy as np

from knowledge_base.store import Passage

# A sentence ends at . ! or ? followed by a space and a capital, digit or quote ("U.S. Senate"
# splits wrongly at worst into two pieces, each still a candidate).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
GAP = " ... "  # between sentences that were not next to each other


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def focus(question: str, passages: Sequence[Passage], embed_texts: Callable[[list[str]], np.ndarray],
          max_chars: int) -> list[Passage]:
    """`passages` with each text cut to at most `max_chars` of its sentences most similar to
    `question` (0: whole passages). `embed_texts` returns L2-normalised rows (the text tower)."""
    long = [i for i, p in enumerate(passages) if max_chars and len(p.text) > max_chars]
    if not long:
        return list(passages)
    pieces = {i: sentences(passages[i].text) for i in long}
    flat = [s for i in long for s in pieces[i]]
    vectors = embed_texts([question or "."] + flat)
    scores = vectors[1:] @ vectors[0]
    kept, start = list(passages), 0
    for i in long:
        own = pieces[i]
        order = np.argsort(-scores[start:start + len(own)], kind="stable")
        start += len(own)
        chosen, used = [], 0
        for j in order:
            if used + len(own[j]) <= max_chars:
                chosen.append(int(j))
                used += len(own[j]) + len(GAP)
        if not chosen:  # the best sentence alone is over budget: its beginning
            text = own[int(order[0])][:max_chars]
        else:
            chosen.sort()
            text = own[chosen[0]]
            for before, j in zip(chosen, chosen[1:]):
                text += (" " if j == before + 1 else GAP) + own[j]
        kept[i] = dataclasses.replace(passages[i], text=text)
    return kept
