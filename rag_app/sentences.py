"""Where a sentence ends, for the two places that cut text at one: what the LLM reads of a
passage (rag_app.focus) and the question Whisper's decoder read (rag_app.asr).

A sentence ends at . ! or ? followed by a space, except
- a period after a title or short form ("Mr. Bean", "St. Helens", "Jr."), a single letter
  ("Charles D. Smith") or a dotted form ("U.S. Open"): names are what a question is about, and a
  cut there loses them ("e.g." is a dotted form too).
(The LLM's streamed reply has its own rule, rag_app.reply: it also carries citation markers.)
"""
from __future__ import annotations

import re

_NOT_AN_END = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "mt", "ft", "gen", "col", "lt", "sgt", "capt", "prof",
               "rev", "vs", "no", "inc", "co", "ltd", "ave", "vol", "gov", "sen", "rep", "pres"}
_CANDIDATE = re.compile(r"[.?!]\s+")


def _ends(text: str) -> list[int]:
    """Offsets just after each sentence-ending mark."""
    ends = []
    for mark in _CANDIDATE.finditer(text):
        if text[mark.start()] == ".":
            word = re.search(r"[\w.]*$", text[:mark.start()]).group(0).lower()
            if len(word) == 1 or "." in word or word in _NOT_AN_END:
                continue
        ends.append(mark.start() + 1)
    return ends


def sentences(text: str) -> list[str]:
    text = text.strip()
    bounds = [0] + _ends(text) + [len(text)]
    return [part for a, b in zip(bounds, bounds[1:]) if (part := text[a:b].strip())]


def first_sentence(text: str) -> str:
    ends = _ends(text)
    return text[:ends[0]] if ends else text
