"""What the LLM reads of each passage: whole sentences within a character budget.

Why a budget: on a CPU the LLM's prefill is most of the wait for the first word of an answer
(SmolLM2-135M on 2 threads: ~0.2 s for 240 prompt tokens, ~0.8 s for 800), and the prompt is
mostly passages. Why whole sentences: a passage cut mid-word or mid-name invites the model to
complete it. Sources shown to the user stay the whole passages.

Which sentences (`passage_focus`):
- start: the first ones. Answers to encyclopedic questions often sit later: the first 400
  characters hold the answer in 0.74 of the hand-written `ood-names-tune` questions' gold passages
  (0.86 of NQ's).
- question (the default): the first sentence (what the passage is about), then the sentences
  sharing the most words with the question, kept in the passage's order: 0.86 at 400 characters
  (`docs/results/answers/picker_position.py`), and SmolLM2's typed answer accuracy on that split
  0.331 -> 0.397 (NQ's 0.360 -> 0.370; stop 37). Words count alike: weighting them by their rarity
  in the corpus kept the answer no more often (0.85) and would need the knowledge base's statistics.
  Embedding each sentence with the text tower instead was measured (stop 29): ~0.2 s p50 on 2
  threads, as much as the shorter prompt saves; word overlap takes well under a millisecond.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Mapping, Sequence

from knowledge_base.store import Passage
from rag_app.sentences import sentences
from rag_app.settings import PASSAGE_FOCUSES

# Words that say nothing about which sentence answers: question words, articles, auxiliaries.
_STOP_WORDS = frozenset(
    "the a an of in on at to for and or is was were are be been by with from as that this which who whom whose "
    "what when where why how did does do i you he she it they we his her its their there then than into about "
    "after before over under up out not no yes".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP_WORDS}


def _first_words(text: str, max_chars: int) -> str:
    head = text[:max_chars]
    return head.rsplit(" ", 1)[0] if " " in head else head


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
    return kept or _first_words(text, max_chars)


def pick(text: str, question: str, max_chars: int, weights: Mapping[str, float] | None = None) -> str:
    """`text`'s first sentence and then the sentences sharing the most words with `question` (ties:
    the earlier) that fit within `max_chars`, in the passage's order; sentences sharing none are
    left out. Falls back to `cut` when the question has no content words or the first sentence
    alone is over the budget. `weights`: what each shared word counts (default 1 each; the
    measurement script weighs them by rarity)."""
    if not max_chars or len(text) <= max_chars:
        return text
    parts, asked = sentences(text), content_words(question)
    if not asked or not parts or len(parts[0]) > max_chars:
        return cut(text, max_chars)
    shared = [sum(1.0 if weights is None else weights.get(w, 0.0) for w in content_words(part) & asked)
              for part in parts]
    kept, used = {0}, len(parts[0])
    for i in sorted(range(1, len(parts)), key=lambda i: (-shared[i], i)):
        if not shared[i]:
            break
        if used + 1 + len(parts[i]) <= max_chars:
            kept.add(i)
            used += 1 + len(parts[i])
    return " ".join(parts[i] for i in sorted(kept))


def focus(passages: Sequence[Passage], max_chars: int, question: str = "", by: str = "start") -> list[Passage]:
    """The passages as the LLM reads them: each cut to `max_chars` (0: whole), by its first
    sentences (`by="start"`) or by the sentences that share words with `question` (`by="question"`)."""
    if by not in PASSAGE_FOCUSES:
        raise ValueError(f"passage focus must be one of {PASSAGE_FOCUSES}, not {by!r}")

    def read(text: str) -> str:
        return pick(text, question, max_chars) if by == "question" else cut(text, max_chars)

    return [p if (text := read(p.text)) == p.text else dataclasses.replace(p, text=text) for p in passages]
