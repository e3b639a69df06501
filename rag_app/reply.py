"""Replies made for voice: whole sentences, at most a few, never a loop.

The LLM's pieces are passed on a sentence at a time (what a spoken reply needs: each sentence
can be synthesised as soon as it is complete). The reply ends
- after `max_sentences` sentences (a spoken answer of one to three sentences),
- at a sentence that repeats an earlier one (small models loop: "The father of Finch is Finch..."),
- at the LLM's end; an unfinished last sentence (cut by the token limit) is dropped when a whole
  one came before it, so the reply stops at a sentence end.
Closing the upstream generator stops the LLM's generation early (the embedded model's worker
checks for it at every token), so a stopped reply also stops costing compute.
"""
from __future__ import annotations

import re
from typing import Iterator

# A sentence ends at . ! or ? (citation markers after it belong to it), followed by a space and
# something that is not another marker; "3.5" or "e.g." inside a word never match.
_END = re.compile(r"[.!?](?:\s*\[\d{1,2}\])*\s+(?=[^\s\[])")
_LAST = re.compile(r"[.!?](?:\s*\[\d{1,2}\])*\s*$")
ABSTENTION = "The documents don't say."


def _key(sentence: str) -> str:
    return " ".join(re.sub(r"\[\d+\]|[^a-z0-9 ]", " ", sentence.lower()).split())


def voice_reply(pieces: Iterator[str], max_sentences: int = 3) -> Iterator[str]:
    """Sentences (each with its trailing space) from the LLM's pieces; `max_sentences` 0 passes
    the pieces through untouched."""
    if max_sentences <= 0:
        yield from pieces
        return
    buffer, seen, said = "", set(), 0
    try:
        for piece in pieces:
            buffer += piece
            while (end := _END.search(buffer)) is not None:
                sentence, buffer = buffer[: end.end()], buffer[end.end():]
                key = _key(sentence)
                if key in seen:
                    return
                seen.add(key)
                yield sentence
                said += 1
                if said >= max_sentences:
                    return
        tail = buffer.strip()
        if tail and (_LAST.search(tail) or not said) and _key(tail) not in seen:
            yield tail
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # stop the generation we no longer read
