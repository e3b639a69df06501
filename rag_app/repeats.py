"""Repetition: what a model that writes text must not repeat, and how to tell it looped."""
from __future__ import annotations

import re


def repeating_tokens(tokens: list[int], n: int) -> list[int]:
    """The tokens that would complete an `n`-gram already in `tokens` (what must not come next)."""
    if len(tokens) < n - 1:
        return []
    tail = tokens[len(tokens) - n + 1:]
    return [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tokens[i:i + n - 1] == tail]


def loops(text: str, times: int = 4) -> bool:
    """A word said `times` times in a row ("What What What what What"): Whisper's decoder looping
    on noise (babble at 10 dB did it), not a question; the caller falls back to SEAL's own reading.
    Four, not three: "Bye Bye Bye" is a song someone may ask about."""
    words = re.findall(r"[\w']+", text.lower())
    return any(len(set(words[i:i + times])) == 1 for i in range(len(words) - times + 1))


def repeats_a_phrase(text: str) -> bool:
    """A two-word phrase said twice ("who made the song how far who made the son"): Whisper's decoder
    reading the question again on trimmed states, or a stutter ("who play d d d")."""
    words = re.findall(r"[\w']+", text.lower())
    pairs = list(zip(words, words[1:]))
    return len(set(pairs)) < len(pairs)
