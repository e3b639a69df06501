"""Replies made for voice: whole sentences, at most three, grounded in the passages or a plain
"The documents don't say."

The LLM's stream passes through `VoiceReply.shape`, which releases text a sentence at a time:
- a sentence is released once it is complete (its end is followed by more text, or the stream
  ended), so nothing shown or spoken is ever taken back;
- generation stops after the third sentence (the caller closes the LLM stream, which stops the
  worker), and an answer cut by the token limit is trimmed back to its last sentence end;
- the first sentence is checked before anything is released: a non-answer ("I'm sorry, the
  passages do not mention ...") or a sentence whose new words (those not in the question) are
  mostly absent from every passage becomes the one plain abstention. A small model invents
  names ("directed by David B. Benson"); a name the passages never mention is exactly what
  this catches. Later sentences must pass the same check or the reply ends before them;
- a [n] citation marker stays only when passage n supports its sentence (see
  `rag_app.citations`); nothing is ever cited by guessing.

Holding back the first sentence costs its generation time before the first text (about a
second on two CPU threads with the embedded model), but a spoken reply cannot start before its
first sentence is complete anyway. `first_raw_at` keeps when the LLM's first token came.
"""
from __future__ import annotations

import re
import time
from typing import Iterable, Iterator

from knowledge_base.store import Passage
from rag_app.citations import check_markers, supports, words_of

ABSTAIN = "The documents don't say."
MAX_SENTENCES = 3

# A sentence end: terminal punctuation, closing quotes/brackets, any citation markers that
# follow it ("... in 1889. [1]"), then whitespace before the next sentence's first character.
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*((?:\s*\[\d{1,2}\])*)(\s+)(?=([^\s\[]))")
_END_AT_STREAM_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*((?:\s*\[\d{1,2}\])*)\s*$")
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr vs etc no prof gen col lt sgt mt ft inc ltd co approx e.g i.e u.s".split())
# Non-answers small models write instead of the plain sentence asked for.
_NON_ANSWER = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|answer|find|say|tell)|not (mentioned|specified|provided|stated|"
    r"given|included|available|clear)|(do|does|did) not (say|mention|contain|specify|provide|state|include)|"
    r"(don't|doesn't|didn't) (say|mention|contain|specify|provide|state|include)|no (information|mention|answer)|"
    r"cannot be (determined|answered|found)|unable to|i'm sorry|i am sorry|unfortunately|not enough information)\b",
    re.IGNORECASE,
)


def _is_abbreviation(text: str, end: int) -> bool:
    """The word before a period at `end` is an abbreviation or an initial ("J. R. R.")."""
    word = re.search(r"([A-Za-z.]+)$", text[:end])
    if not word:
        return False
    token = word.group(1).rstrip(".").lower()
    return len(token) == 1 or token in _ABBREVIATIONS


def split_sentences(text: str, final: bool) -> tuple[list[str], str]:
    """(complete sentences, the unfinished rest). Each sentence keeps its trailing whitespace,
    so the released pieces join back into the text exactly. A sentence is complete when its end
    is followed by the start of another (an upper-case letter, digit or quote: "e.g. the" is not
    an end) or, when `final`, by the end of the text."""
    sentences, start = [], 0
    for match in _END.finditer(text):
        if match.start() < start or _is_abbreviation(text, match.start()) or match.group(3).islower():
            continue
        sentences.append(text[start : match.end()])
        start = match.end()
    rest = text[start:]
    if final and rest.strip() and _END_AT_STREAM_END.search(rest):
        sentences.append(rest)
        rest = ""
    return sentences, rest


def is_non_answer(sentence: str) -> bool:
    return bool(_NON_ANSWER.search(sentence)) or words_of(sentence) == words_of(ABSTAIN)


class VoiceReply:
    """Shapes one answer; `abstained`, `trimmed` and `first_raw_at` say what happened."""

    def __init__(self, question: str, passages: list[Passage], max_sentences: int = MAX_SENTENCES):
        self.question, self.passages, self.max_sentences = question, passages, max_sentences
        self.abstained = self.trimmed = False
        self.first_raw_at: float | None = None  # perf_counter of the LLM's first token

    def check(self, sentence: str) -> str | None:
        """The sentence as released (unsupported markers removed), or None when it is not
        supported by the passages (or is a non-answer)."""
        if is_non_answer(sentence) or not supports(sentence, self.passages, self.question):
            return None
        return check_markers(sentence, self.passages, self.question)[0]

    def shape(self, stream: Iterable[str]) -> Iterator[str]:
        """Released text pieces (whole sentences). The LLM stream is closed as soon as the reply
        is complete, which stops its generation. An error from the stream (LLMError) passes
        through after the unchecked text so far is released: the caller says it was cut short."""
        if not self.passages:
            self.abstained = True
            yield ABSTAIN
            return
        buffer, released = "", 0
        iterator = iter(stream)
        try:
            while True:
                try:
                    piece = next(iterator)
                except StopIteration:
                    break
                except Exception:
                    if buffer and not released:
                        yield buffer  # what arrived before the failure, unchecked; the turn notes the cut
                    raise
                if self.first_raw_at is None:
                    self.first_raw_at = time.perf_counter()
                sentences, buffer = split_sentences(buffer + piece, final=False)
                for sentence in sentences:
                    out = self._release(sentence, released)
                    if out is None:
                        return
                    released += 1
                    yield out
                    if self.abstained or released >= self.max_sentences:
                        return
            sentences, rest = split_sentences(buffer, final=True)
            if rest.strip():
                if released or sentences:
                    self.trimmed = True  # cut by the token limit mid-sentence: back to the last end
                else:
                    sentences = [rest]  # no sentence end at all: the fragment is all there is
            for sentence in sentences[: self.max_sentences - released]:
                out = self._release(sentence, released)
                if out is None:
                    return
                released += 1
                yield out
                if self.abstained:
                    return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _release(self, sentence: str, released: int) -> str | None:
        """What to release for a complete sentence: itself (checked), the abstention in place of
        an unsupported first sentence, or None to end the reply before an unsupported later one."""
        checked = self.check(sentence)
        if checked is not None:
            return checked
        if released == 0:
            self.abstained = True
            return ABSTAIN
        self.trimmed = True
        return None
