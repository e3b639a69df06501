"""Replies made for voice: shown as written, spoken a whole sentence at a time, never a loop.

The LLM's pieces reach the page as they come (`Shown`): the first answer token is on screen one
prefill after the question, not one sentence later. What the reply keeps is decided a sentence at
a time (`Sentence`: each can be synthesised as soon as it is complete). The reply ends
- after `max_sentences` sentences (a spoken answer of one to three sentences),
- at a sentence that repeats an earlier one (small models loop: "The father of Finch is Finch...");
  while the sentence being written still reads like the start of an earlier one it is held back,
  so a repeat is never shown,
- at the LLM's end; an unfinished last sentence (cut by the token limit) is dropped when a whole
  one came before it, so the reply stops at a sentence end.
What was shown and dropped (that unfinished tail) is taken back by the reply's final text
(`kept_reply`), which the page shows in its place and the history keeps.
Closing the upstream generator stops the LLM's generation early (the embedded model's worker
checks for it at every token), so a stopped reply also stops costing compute.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

# A sentence ends at . ! or ? (citation markers after it belong to it), followed by a space and
# something that is not another marker; "3.5" or "e.g." inside a word never match.
_END = re.compile(r"[.!?](?:\s*\[\d{1,2}\])*\s+(?=[^\s\[])")
_LAST = re.compile(r"[.!?](?:\s*\[\d{1,2}\])*\s*$")
ABSTENTION = "The documents don't say."
# A comma, semicolon or colon followed by a space ("2,034" is no break).
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s)")
# The fewest words a clause spoken ahead of its sentence's end carries (a shorter one sounds clipped).
FIRST_CLAUSE_WORDS = 6


@dataclass(frozen=True)
class Shown:
    """Text to show now, as the LLM wrote it."""
    text: str


@dataclass(frozen=True)
class Sentence:
    """A whole sentence the reply keeps (with its trailing space), ready to speak."""
    text: str


def _key(sentence: str) -> str:
    return " ".join(re.sub(r"\[\d+\]|[^a-z0-9 ]", " ", sentence.lower()).split())


def kept_reply(parts: Iterable[Shown | Sentence]) -> str:
    """The reply as kept: its sentences, in order."""
    return "".join(part.text for part in parts if isinstance(part, Sentence))


def voice_reply(pieces: Iterator[str], max_sentences: int = 3) -> Iterator[Shown | Sentence]:
    """`Shown` pieces as they come and each kept `Sentence` once complete. `max_sentences` 0 keeps
    everything the LLM writes (no sentence limit, no repeat stop, the unfinished end kept)."""
    guarded = max_sentences > 0
    buffer, shown, seen, said = "", 0, set(), 0  # shown: how much of buffer was handed out already

    def held() -> bool:  # the sentence so far could still turn out to repeat an earlier one
        key = _key(buffer)
        return guarded and any(earlier.startswith(key) for earlier in seen)

    def unfinished_end() -> Iterator[Shown | Sentence]:
        tail = buffer.strip()
        if tail and (not guarded or _LAST.search(tail) or not said) and not (guarded and _key(tail) in seen):
            if shown < len(buffer):
                yield Shown(buffer[shown:])
            yield Sentence(tail)

    try:
        try:
            for piece in pieces:
                buffer += piece
                while (end := _END.search(buffer)) is not None:
                    sentence, buffer = buffer[: end.end()], buffer[end.end():]
                    key = _key(sentence)
                    if guarded and key in seen:
                        return
                    seen.add(key)
                    if shown < len(sentence):
                        yield Shown(sentence[shown:])
                    shown = max(0, shown - len(sentence))
                    yield Sentence(sentence)
                    said += 1
                    if guarded and said >= max_sentences:
                        return
                if shown < len(buffer) and not held():
                    yield Shown(buffer[shown:])
                    shown = len(buffer)
        except Exception:
            yield from unfinished_end()  # an LLM failing mid-answer: what it wrote, by the same rule
            raise
        yield from unfinished_end()
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # stop the generation we no longer read


def first_clause(text: str, min_words: int = FIRST_CLAUSE_WORDS) -> str | None:
    """`text` up to its first clause break preceded by at least `min_words` words, or None. A
    spoken reply can start there before the sentence ends: with two passages SmolLM2 often opens
    with a long sentence copied from one, and the first audio waited for its end (stop 37). Only
    within the first sentence: a server's stream may hand out text past its end in one piece."""
    if (end := re.search(r"[.!?]\s", text)) is not None:
        text = text[: end.start()]
    for mark in _CLAUSE_BREAK.finditer(text):
        if len(text[: mark.end()].split()) >= min_words:
            return text[: mark.end()]
    return None
