"""Which passages an answer cites.

The prompt asks for [n] markers and an LLM that writes them is taken at its word (markers
outside the passage list are dropped). Small models often answer without markers, so the
fallback attributes the answer to the passage sharing the largest share of its content words
(post-hoc attribution), and says that is how the citation was found.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge_base.store import Passage

_MARKER = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the a an and or of in on at to for from by with is are was were be been it its this that these those as "
    "who what when where which why how do does did not no yes i you he she they we his her their our your "
    "there here than then so but if into about also can could would should will may might has have had".split()
)


@dataclass
class Citations:
    numbers: list[int] = field(default_factory=list)  # 1-based, as shown beside the sources
    method: str = "none"  # "marker" | "overlap" | "none"

    def label(self) -> str:
        if not self.numbers:
            return "no passage cited"
        how = "" if self.method == "marker" else " (attributed by word overlap)"
        return "cites " + ", ".join(f"[{n}]" for n in self.numbers) + how


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP}


def find_citations(answer: str, passages: list[Passage], min_share: float = 0.3) -> Citations:
    markers = sorted({int(n) for n in _MARKER.findall(answer) if 1 <= int(n) <= len(passages)})
    if markers:
        return Citations(markers, "marker")
    words = _content_words(answer)
    if not words or not passages:
        return Citations()
    shares = [len(words & _content_words(p.text)) / len(words) for p in passages]
    best = max(range(len(passages)), key=shares.__getitem__)
    return Citations([best + 1], "overlap") if shares[best] >= min_share else Citations()
