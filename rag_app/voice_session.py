"""One hands-free conversation: microphone audio in, turns answered aloud, barge-in honoured.

`ConversationSession` glues the turn-taker (`rag_app.conversation`), live retrieval
(`rag_app.live`) and the pipeline's answer, and is what the web page, the CLI and the benchmark
drive. Two entry points, usually on two threads:
- `feed(audio)` with microphone audio as it arrives: returns `Update`s (status, live passages,
  notices, a turn ready to answer, a barge-in that must stop playback now);
- `run_turn()` answers the turn that ended: `TurnEvent`s as the pipeline's, plus `AUDIO` per
  reply sentence (synthesised as soon as the LLM finished it), ending with the `TRACE`.
A barge-in seen by `feed` stops `run_turn` at the LLM's next token.

Data flows one way: audio -> turn audio -> SEAL embedding -> passages -> prompt -> sentences ->
speech; each stage is timed into the turn's `Trace`, together with the end of speech -> first
reply audio that a speaker waits for.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Iterator

import numpy as np

from rag_app.conversation import SAMPLE_RATE, EventType, Phase, SpeechDetector, TurnOptions, TurnTaker
from rag_app.live import Agreement, Heard, LiveRetrieval
from rag_app.pipeline import Pipeline
from rag_app.settings import Settings
from rag_app.trace import EventKind, Stage, StageClock, Trace, TurnEvent

Speaker = Callable[[str], "tuple[int, np.ndarray] | None"]  # a sentence -> (rate, samples); rag_app.speak.SentenceVoice


class Status(StrEnum):
    """What the page shows the user the conversation is doing."""

    LISTENING = "listening"
    HEARING = "hearing you"
    SEARCHING = "searching"
    THINKING = "thinking"
    SPEAKING = "speaking"


class UpdateKind(StrEnum):
    STATUS = "status"
    LIVE = "live"  # data: Heard (the passages forming while the user speaks)
    NOTICE = "notice"  # data: str
    TURN_READY = "turn_ready"  # a turn ended: call run_turn
    BARGE_IN = "barge_in"  # stop the reply's playback now


@dataclass
class Update:
    kind: UpdateKind
    data: Any = None


@dataclass
class TurnRecord:
    """A finished turn, for the turns table and the benchmark."""

    heard: str
    answer: str
    trace: Trace
    agreement: Agreement
    cut: bool  # ended at the maximum turn length
    interrupted: bool  # the user barged in


def turn_options(settings: Settings) -> TurnOptions:
    return TurnOptions(pause_s=settings.conv_pause_s, max_turn_s=settings.conv_max_turn_s,
                       live_every_s=settings.conv_live_every_s, barge_in_s=settings.conv_barge_in_s,
                       echo_gain=settings.conv_echo_gain, threshold=settings.vad_threshold)


@dataclass
class _Pending:
    audio: np.ndarray
    speech_end_s: float
    ended_s: float
    cut: bool
    ended_wall: float = field(default_factory=time.perf_counter)


class ConversationSession:
    def __init__(self, pipeline: Pipeline, detector: SpeechDetector, options: TurnOptions = TurnOptions(),
                 speaker: Speaker | None = None, live: bool = True):
        self.pipeline, self.options, self.speaker = pipeline, options, speaker
        self.taker = TurnTaker(detector, options)
        self.live = LiveRetrieval(pipeline, pipeline.search)
        self.live_enabled = live and options.live_every_s > 0
        self.history: list[tuple[str, str]] = []
        self.turns: list[TurnRecord] = []
        self.status = Status.LISTENING
        self._lock = threading.Lock()  # the taker is fed on one thread and told about the reply on another
        self._pending: _Pending | None = None
        self._cancel = threading.Event()

    # ----- microphone side --------------------------------------------------------------
    def feed(self, audio: np.ndarray) -> list[Update]:
        """16 kHz mono float32 from the microphone -> what the caller should show or do."""
        with self._lock:
            events = self.taker.feed(audio)
            if not events and self.taker.phase == Phase.LISTENING and self.status != Status.LISTENING:
                self.status = Status.LISTENING
                return [Update(UpdateKind.STATUS, self.status)]
        updates: list[Update] = []
        for event in events:
            if event.type == EventType.BARGE_IN:
                self._cancel.set()  # run_turn stops at the LLM's next token
                updates.append(Update(UpdateKind.BARGE_IN, event.message))
            elif event.type == EventType.SPEECH_STARTED:
                self.live.reset()
                updates.append(self._set(Status.HEARING))
            elif event.type == EventType.PARTIAL and self.live_enabled:
                updates.append(Update(UpdateKind.LIVE, self.live.update(event.audio, event.at_s)))
            elif event.type == EventType.TURN_TOO_LONG:
                updates.append(Update(UpdateKind.NOTICE, event.message))
            elif event.type == EventType.TURN_ENDED:
                self._cancel = threading.Event()
                self._pending = _Pending(event.audio, event.speech_end_s, event.at_s, event.message == "cut")
                updates += [self._set(Status.SEARCHING), Update(UpdateKind.TURN_READY)]
            elif event.type == EventType.REPLY_DONE:
                updates.append(self._set(Status.LISTENING))
        return updates

    def _set(self, status: Status) -> Update:
        self.status = status
        return Update(UpdateKind.STATUS, status)

    # ----- answering side ---------------------------------------------------------------
    def run_turn(self) -> Iterator[TurnEvent]:
        """Answer the turn that ended (nothing when there is none); cancelled by a barge-in."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        cancel, number = self._cancel, self.taker.turns_ended
        trace = Trace("seal", device=str(getattr(self.pipeline.seal, "device", "cpu")))
        clock = StageClock(trace)
        waited_ms = (pending.ended_s - pending.speech_end_s) * 1000  # the pause, in stream time
        clock.add(Stage.END_OF_TURN, waited_ms)
        # the wall time between the turn ending and this call (a queue, a thread start) counts too
        lag_ms = (clock.start - pending.ended_wall) * 1000
        query, reused = self.live.final(pending.audio, pending.ended_s)
        if not reused:
            clock.add(Stage.SPEECH_EMBEDDING, query.embed_ms)
            clock.add(Stage.SEARCH, query.search_ms)
        agreement = self.live.agreement(query, reused, pending.speech_end_s)
        yield TurnEvent(EventKind.HEARD, query.reading)
        yield TurnEvent(EventKind.PASSAGES, query.passages)
        self.status = Status.THINKING
        answer: list[str] = []
        try:
            for event in self.pipeline.generate(query.reading, query.passages, self.history, clock, cancel):
                yield event
                if event.kind == EventKind.TOKEN:
                    answer.append(event.data)
                    yield from self._say(event.data, clock, trace, waited_ms + lag_ms, cancel)
        finally:
            with self._lock:
                if self.taker.turns_ended == number:  # not after a barge-in started the next turn
                    self.taker.reply_finished()
            interrupted = cancel.is_set()
            heard = query.reading
            self.history.append((heard, "".join(answer)))
            trace.models = self.pipeline._models()
            clock.finish()
            self.turns.append(TurnRecord(heard, "".join(answer), trace, agreement, pending.cut, interrupted))
        if interrupted:
            yield TurnEvent(EventKind.NOTICE, "you spoke over the reply: stopped it")
        yield TurnEvent(EventKind.TRACE, trace)

    def _say(self, sentence: str, clock: StageClock, trace: Trace, before_ms: float,
             cancel: threading.Event) -> Iterator[TurnEvent]:
        if self.speaker is None or cancel.is_set():
            return
        with clock.stage(Stage.SYNTHESIS):
            spoken = self.speaker(sentence)
        if spoken is None or cancel.is_set():
            return
        rate, samples = spoken
        if trace.first_audio_ms is None:
            trace.first_audio_ms = before_ms + (time.perf_counter() - clock.start) * 1000
        with self._lock:
            if cancel.is_set():
                return
            self.taker.reply_audio(samples, rate)
        self.status = Status.SPEAKING
        yield TurnEvent(EventKind.AUDIO, spoken)

    def stop(self) -> None:
        """End the conversation: a turn being answered stops."""
        self._cancel.set()
