"""Live retrieval: the turn's audio so far, re-embedded by SEAL while the user still speaks.

SEAL embeds speech directly, so a query vector exists for any prefix of a question; searching
with it shows the passages forming as the user talks. At the end of the turn the last live
embedding *is* the query when no audio came after it (the turn-taker's partials taken during
the closing pause equal the final audio), so the end of a turn often costs no embedding at all.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from knowledge_base.store import Passage
from rag_app.audio import SAMPLE_RATE
from rag_app.query import QuerySide

# "Shown about 1 s before the end": the partial the agreement figure looks at.
AGREEMENT_LEAD_S = 1.0


@dataclass
class Heard:
    """One embedding of the turn's audio (a prefix, or the whole turn) and what it found."""

    samples: int  # length of the audio embedded
    at_s: float  # stream time the audio was taken
    vector: np.ndarray
    reading: str  # SEAL's CTC reading of the same pass
    passages: list[Passage]
    embed_ms: float
    search_ms: float
    # Whisper encoder states of this pass, kept (for the newest embedding only) when the LLM reads
    # Whisper's decoder on them (question_text="decoder"): no second encoder pass at the end
    states: Any = None
    # Whisper's decoder on those states, run when the audio had settled in the closing pause
    # (question_text="decoder"): the turn then starts with the question already read
    decoded: str | None = None
    decode_ms: float = 0.0

    @property
    def top_id(self) -> str | None:
        return self.passages[0].id if self.passages else None


@dataclass
class Agreement:
    """Per turn: did the passage shown ~1 s before the end of speech already equal the final top-1,
    and how much embedding time the end of the turn saved by reusing the last live embedding."""

    early_match: bool | None  # None: the turn was too short to show anything that early
    lead_s: float | None  # how long before the end of speech that passage was shown
    reused: bool  # the final query is the last live embedding
    saved_ms: float  # embedding + search (+ decoder) time the end of the turn did not spend


@dataclass
class LiveRetrieval:
    query_side: QuerySide
    search: Callable[[np.ndarray], list[Passage]]  # Pipeline.search
    history: list[Heard] = field(default_factory=list)

    def reset(self) -> None:
        self.history = []

    def update(self, audio: np.ndarray, at_s: float) -> Heard:
        """Embed and search the audio so far (a PARTIAL event's), and keep the result."""
        heard = self.measure(audio, at_s)
        self.keep(heard)
        return heard

    def keep(self, heard: Heard) -> None:
        """Add to the history; only the newest embedding keeps its encoder states (a long turn
        embedded every 0.6 s would otherwise hold megabytes of states nobody reads)."""
        for older in self.history:
            older.states = None
        self.history.append(heard)

    def measure(self, audio: np.ndarray, at_s: float, settled: bool = False) -> Heard:
        """Embed and search, without keeping the result (a caller on another thread keeps it
        only if the turn it belongs to is still the current one). `settled` (the audio is the
        turn's unless speech resumes): with question_text="decoder", Whisper's decoder reads the
        question now, in the closing pause, instead of after it (wasted if the user goes on)."""
        started = time.perf_counter()
        states = None
        decoder = getattr(self.query_side, "question_text", "reading") == "decoder"
        if decoder:
            vector, reading, states = self.query_side.hear(audio)
        else:
            vector, reading = self.query_side.embed_speech(audio)
        embedded = time.perf_counter()
        passages = self.search(vector)
        heard = Heard(len(audio), at_s, vector, reading, passages, (embedded - started) * 1000,
                      (time.perf_counter() - embedded) * 1000, states)
        if decoder and settled:
            started = time.perf_counter()
            heard.decoded = self.query_side.decode_question(states, len(audio) / SAMPLE_RATE, audio=audio)
            heard.decode_ms = (time.perf_counter() - started) * 1000
        return heard

    def final(self, audio: np.ndarray, at_s: float) -> tuple[Heard, bool]:
        """(the turn's query, whether the last live embedding was reused): no re-embedding when
        no new audio came since it."""
        last = self.history[-1] if self.history else None
        if last is not None and last.samples == len(audio):
            return last, True
        return self.update(audio, at_s), False

    def agreement(self, final: Heard, reused: bool, speech_end_s: float, lead_s: float = AGREEMENT_LEAD_S) -> Agreement:
        early = [h for h in self.history if h is not final and h.at_s <= speech_end_s - lead_s]
        saved = final.embed_ms + final.search_ms + final.decode_ms if reused else 0.0
        if not early:
            return Agreement(None, None, reused, saved)
        shown = early[-1]
        return Agreement(shown.top_id == final.top_id, speech_end_s - shown.at_s, reused, saved)
