"""What the LLM reads of each passage: its first whole sentences within a character budget.

Why a budget: on a CPU the LLM's prefill is most of the wait for the first word of an answer
(SmolLM2-135M in bfloat16 on 2 threads: ~0.2 s for 240 prompt tokens, ~0.8 s for 800), and the
prompt is mostly passages. Why whole sentences: a passage cut mid-word or mid-name invites the
model to complete it. Choosing the sentences most similar to the question instead was measured
(stop 29, `docs/results/answers`): embedding them with the text tower took ~0.2 s p50 on 2 threads,
as much as the shorter prompt saved, so the cut is free and positional. Sources shown to the user
stay the whole passages.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from knowledge_base.store import Passage
from rag_app.sentences import sentences


def cut(text: str, max_chars: int) -> str:
    """`text`'s first whole sentences within `max_chars` (0: all of it); a first sentence longer
    than that is cut at the last word boundary that fits."""
    if not max_chars or len(text) <= max_chars:
        return text
    kept = ""
    for sentence in sentences(text):
        joined = f"{kept} {sentence}" if kept else sentence
        if len(joined) > max_chars:
            break
        kept = joined
    if kept:
        return kept
    head = text[:max_chars]
    return head.rsplit(" ", 1)[0] if " " in head else head


def focus(passages: Sequence[Passage], max_chars: int) -> list[Passage]:
    """The passages as the LLM reads them: each cut to `max_chars` (0: whole)."""
    return [p if (text := cut(p.text, max_chars)) == p.text else dataclasses.replace(p, text=text) for p in passages]
