"""Which passages an answer cites, and whether a passage supports a sentence.

Citations come only from the [n] markers the LLM writes, and a marker counts only when passage
n supports the sentence it closes. Nothing is attributed by guessing: an answer without markers
cites nothing (before, the passage sharing the most words was shown as cited, and a small
model's made-up answer got a citation it never had).

Support is lexical and deliberately plain: the sentence's new content words (those not already
in the question) must mostly occur in the passage. A name, number or title the passage never
mentions fails it; a paraphrase with different words can fail it too, which costs a citation
(or, for the first sentence, an abstention), never a wrong one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge_base.store import Passage

MARKER = re.compile(r"\s?\[(\d{1,2})\]")
_WORD = re.compile(r"[a-z0-9]+")
_SUFFIX = re.compile(r"(ing|ed|es|s)$")
_STOP = frozenset(
    "the a an and or of in on at to for from by with is are was were be been it its this that these those as "
    "who what when where which why how do does did not no yes i you he she they we his her their our your "
    "there here than then so but if into about also can could would should will may might has have had "
    "him them me my one".split()
)
MIN_SHARE = 0.5  # of a sentence's new words that must occur in the passages


@dataclass
class Citations:
    numbers: list[int] = field(default_factory=list)  # 1-based, as shown beside the sources
    method: str = "none"  # "marker" | "none"

    def label(self) -> str:
        if not self.numbers:
            return "no passage cited"
        return "cites " + ", ".join(f"[{n}]" for n in self.numbers)


def _stem(word: str) -> str:
    """Crude but symmetric: 'played'/'plays' -> 'play', 'directed'/'director' -> 'direct'."""
    if word.isdigit():
        return word
    base = _SUFFIX.sub("", word)
    return (base if len(base) >= 3 else word)[:6]


def words_of(text: str) -> set[str]:
    """Stemmed content words; citation markers are not words."""
    return {_stem(w) for w in _WORD.findall(MARKER.sub(" ", text).lower())
            if w not in _STOP and (len(w) > 2 or w.isdigit())}


def supports(sentence: str, passages: list[Passage], question: str = "", min_share: float = MIN_SHARE) -> bool:
    """Whether these passages (together) back the sentence: it says something beyond the
    question, and at least `min_share` of what it adds occurs in them."""
    new = words_of(sentence) - words_of(question)
    if not new or not passages:
        return False
    evidence = set().union(*(words_of(p.text) for p in passages))
    return len(new & evidence) / len(new) >= min_share


def _backed(claim: str, sentence: str, passage: Passage, question: str) -> bool:
    """A marker's claim is the text between the previous marker and it ("It is violet [1], and
    the ferry leaves at noon [2]"); a marker with no words of its own before it (after a period,
    or a second marker in a row) claims its whole sentence."""
    if words_of(claim) - words_of(question):
        return supports(claim, [passage], question)
    return supports(sentence, [passage], question)


def check_markers(sentence: str, passages: list[Passage], question: str = "") -> tuple[str, set[int]]:
    """(the sentence without the markers its passage does not back, the numbers kept)."""
    kept: set[int] = set()
    pieces, start = [], 0
    for match in MARKER.finditer(sentence):
        n = int(match.group(1))
        claim = sentence[start : match.start()]
        pieces.append(claim)
        if 1 <= n <= len(passages) and _backed(claim, sentence, passages[n - 1], question):
            kept.add(n)
            pieces.append(match.group(0))
        start = match.end()
    pieces.append(sentence[start:])
    return "".join(pieces), kept


def find_citations(answer: str, passages: list[Passage], question: str = "") -> Citations:
    """The passages the answer's markers cite, each kept only where it backs its claim.
    (`rag_app.reply` already removes unsupported markers from a streamed reply; this reads the
    final text, so it holds for any answer.)"""
    from rag_app.reply import split_sentences

    sentences, rest = split_sentences(answer, final=True)
    cited: set[int] = set()
    for sentence in sentences + ([rest] if rest.strip() else []):
        cited |= check_markers(sentence, passages, question)[1]
    return Citations(sorted(cited), "marker") if cited else Citations()
