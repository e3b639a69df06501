"""A turn's stages, named once, and the one clock that times them into the turn's `Trace`.

Benchmarks, reports, the UI's latency chart and the evaluation read stage names from here, so a
renamed or added stage cannot leave one of them reading a name the pipeline no longer writes.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable, Iterator


class Stage(StrEnum):
    """The timed steps of a turn, in the order a turn runs them."""

    END_OF_TURN = "end_of_turn"  # conversation mode: end of speech -> the pause that ends the turn
    DECODE = "decode"
    VAD = "vad"
    SPEECH_EMBEDDING = "speech_embedding"
    TRANSCRIPTION = "transcription"
    TEXT_EMBEDDING = "text_embedding"
    SEARCH = "search"
    QUESTION_TEXT = "question_text"  # SEAL mode: Whisper's decoder on SEAL's encoder states (question_text="decoder")
    PROMPT = "prompt"
    FIRST_TOKEN = "first_token"
    GENERATION = "generation"
    SYNTHESIS = "synthesis"  # conversation mode: the reply's sentences read aloud (Piper)


# Figures a benchmark adds per turn beside the stages (they are not stages: they overlap them).
TURN_TO_FIRST_TOKEN = "turn_to_first_token"
TOTAL = "total"
SPEECH_END_TO_FIRST_AUDIO = "speech_end_to_first_audio"  # conversation mode: what a speaker waits for
STAGE_ORDER: list[str] = [*Stage, TURN_TO_FIRST_TOKEN, SPEECH_END_TO_FIRST_AUDIO, TOTAL]
ANSWER_STAGES = (Stage.PROMPT, Stage.FIRST_TOKEN, Stage.GENERATION)  # after the passages are known
# The stages between a recording and its passages, per mode: what SEAL saves is measured here.
SPEECH_TO_PASSAGES = {
    "seal": (Stage.DECODE, Stage.VAD, Stage.SPEECH_EMBEDDING, Stage.SEARCH),
    "asr": (Stage.DECODE, Stage.VAD, Stage.TRANSCRIPTION, Stage.TEXT_EMBEDDING, Stage.SEARCH),
}


class EventKind(StrEnum):
    HEARD = "heard"  # what the question said (SEAL's CTC reading, the transcript or the typed text)
    PASSAGES = "passages"
    TOKEN = "token"  # answer text as the LLM writes it, shown at once (a later REPLY may take some back)
    SENTENCE = "sentence"  # a whole sentence the reply keeps: what a spoken reply reads aloud
    REPLY = "reply"  # the reply as kept (its sentences), after the last TOKEN: what to show and remember
    CITATIONS = "citations"
    NOTICE = "notice"  # a degraded turn, in words (no LLM, the LLM failed mid-answer)
    AUDIO = "audio"  # conversation mode: (sample rate, samples) of a reply sentence, ready to play
    TRACE = "trace"  # the last event of every turn


@dataclass
class Trace:
    mode: str
    stages_ms: dict[str, float] = field(default_factory=dict)
    total_ms: float = 0.0
    first_token_ms: float | None = None  # from the start of the turn
    first_audio_ms: float | None = None  # conversation mode: from the end of speech to the first reply audio
    models: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"

    def table(self) -> str:
        rows = [f"{name:<18}{ms:>10.1f} ms" for name, ms in self.stages_ms.items()]
        if self.first_token_ms is not None:
            rows.append(f"{'time to 1st token':<18}{self.first_token_ms:>10.1f} ms")
        if self.first_audio_ms is not None:
            rows.append(f"{'speech end->audio':<18}{self.first_audio_ms:>10.1f} ms")
        rows.append(f"{'total':<18}{self.total_ms:>10.1f} ms")
        return "\n".join(rows)


@dataclass
class TurnEvent:
    kind: EventKind
    data: Any


class StageClock:
    """Times stages into a trace; a stage timed twice in one turn adds up."""

    def __init__(self, trace: Trace):
        self.trace, self.start = trace, time.perf_counter()

    def _add(self, stage: Stage, seconds: float) -> None:
        name = str(stage)
        self.trace.stages_ms[name] = self.trace.stages_ms.get(name, 0.0) + seconds * 1000

    def add(self, stage: Stage, ms: float) -> None:
        """A stage timed elsewhere (the conversation's pause is measured in stream time)."""
        self._add(stage, ms / 1000)

    @contextmanager
    def stage(self, stage: Stage) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self._add(stage, time.perf_counter() - started)

    def stream(self, pieces: Iterable[str]) -> Iterator[str]:
        """The LLM's pieces, timed as two stages: the wait for the first piece, then the rest.
        The first piece is also stamped from the start of the turn (what a user waits for)."""
        started, first = time.perf_counter(), None
        try:
            for piece in pieces:
                if first is None:
                    first = time.perf_counter()
                    self._add(Stage.FIRST_TOKEN, first - started)
                    self.trace.first_token_ms = (first - self.start) * 1000
                yield piece
        finally:  # also when the LLM fails mid-answer: the time spent waiting is still a stage
            if first is None:
                self._add(Stage.FIRST_TOKEN, time.perf_counter() - started)
            else:
                self._add(Stage.GENERATION, time.perf_counter() - first)

    def finish(self) -> None:
        self.trace.total_ms = (time.perf_counter() - self.start) * 1000
