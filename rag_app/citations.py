"""Which passages an answer cites.

The prompt asks for [n] markers. A marker is shown only when the passage supports the sentence it
ends: enough of that sentence's content words are in the passage (small models put markers on
sentences the passage never said). An answer without markers cites nothing: guessing a source
by word overlap and showing it as a citation would claim support nobody checked.
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
    dropped: list[int] = field(default_factory=list)  # markers the LLM wrote that its passage does not support

    def label(self) -> str:
        if not self.numbers:
            return "no passage cited"
        return "cites " + ", ".join(f"[{n}]" for n in self.numbers)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP}


def _sentence_before(answer: str, position: int) -> str:
    """The sentence a marker at `position` closes: "It is violet [1]." and "It is violet. [1]" alike."""
    before = _MARKER.sub(" ", answer[:position]).rstrip()
    return re.split(r"(?<=[.!?])\s+", before)[-1] if before else ""


def find_citations(answer: str, passages: list[Passage], min_share: float = 0.3) -> Citations:
    kept, dropped = set(), set()
    for marker in _MARKER.finditer(answer):
        number = int(marker.group(1))
        if not 1 <= number <= len(passages):
            continue
        words = _content_words(_sentence_before(answer, marker.start()))
        supported = bool(words) and len(words & _content_words(passages[number - 1].text)) / len(words) >= min_share
        (kept if supported else dropped).add(number)
    return Citations(sorted(kept), sorted(dropped - kept))
