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
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Iterator

import numpy as np

from rag_app.conversation import EventType, SpeechDetector, TurnOptions, TurnTaker
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
    history: list[Heard]  # the live embeddings of this turn
    ended_wall: float = field(default_factory=time.perf_counter)
    cancel: threading.Event = field(default_factory=threading.Event)


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
        self._pending: deque[_Pending] = deque()  # turns ended, answered in order
        self._answering: _Pending | None = None
        self._answer_lock = threading.Lock()  # one answer at a time, in the order the turns ended
        # live retrieval runs beside the microphone, never in its way: one embedding at a time,
        # a partial arriving meanwhile is skipped (the next one covers its audio too)
        self._live_thread: threading.Thread | None = None
        self._live_next: tuple[np.ndarray, float, int] | None = None
        self._live_running = False
        self._live_ready: list[Heard] = []
        self._turn_no = 0  # a live result of an earlier turn is dropped

    # ----- microphone side --------------------------------------------------------------
    def feed(self, audio: np.ndarray) -> list[Update]:
        """16 kHz mono float32 from the microphone -> what the caller should show or do."""
        with self._lock:
            events = self.taker.feed(audio)
            ready, self._live_ready = self._live_ready, []
        updates: list[Update] = [Update(UpdateKind.LIVE, heard) for heard in ready]
        for event in events:
            if event.type == EventType.BARGE_IN:
                if self._answering is not None:
                    self._answering.cancel.set()  # run_turn stops at the LLM's next token
                updates.append(Update(UpdateKind.BARGE_IN, event.message))
            elif event.type == EventType.SPEECH_STARTED:
                with self._lock:
                    self._turn_no += 1
                    self.live.reset()
                updates.append(self._set(Status.HEARING))
            elif event.type == EventType.PARTIAL and self.live_enabled:
                self._start_live(event.audio, event.at_s)
            elif event.type == EventType.TURN_TOO_LONG:
                updates.append(Update(UpdateKind.NOTICE, event.message))
            elif event.type == EventType.TURN_ENDED:
                with self._lock:
                    self._pending.append(_Pending(event.audio, event.speech_end_s, event.at_s, event.message == "cut",
                                                  self.live.history))
                updates += [self._set(Status.SEARCHING), Update(UpdateKind.TURN_READY)]
            elif event.type == EventType.REPLY_DONE:
                updates.append(self._set(Status.LISTENING))
        return updates

    def _start_live(self, audio: np.ndarray, at_s: float) -> None:
        with self._lock:
            self._live_next = (audio, at_s, self._turn_no)  # the newest partial wins
            if self._live_running:
                return  # the running embedding takes it up when done
            self._live_running = True
            self._live_thread = threading.Thread(target=self._live, daemon=True)
            self._live_thread.start()

    def _live(self) -> None:
        while True:
            with self._lock:
                job, self._live_next = self._live_next, None
                if job is None:
                    self._live_running = False  # decided under the lock: no partial is left behind
                    return
            audio, at_s, turn_no = job
            heard = self.live.measure(audio, at_s)
            with self._lock:
                if turn_no == self._turn_no:
                    self.live.history.append(heard)
                    self._live_ready.append(heard)

    def _set(self, status: Status) -> Update:
        self.status = status
        return Update(UpdateKind.STATUS, status)

    # ----- answering side ---------------------------------------------------------------
    def run_turn(self) -> Iterator[TurnEvent]:
        """Answer the turn that ended (nothing when there is none); cancelled by a barge-in."""
        with self._answer_lock:
            with self._lock:
                pending = self._pending.popleft() if self._pending else None
            if pending is not None:
                self._answering = pending
                try:
                    yield from self._answer(pending)
                finally:
                    self._answering = None

    def _answer(self, pending: _Pending) -> Iterator[TurnEvent]:
        cancel = pending.cancel
        trace = Trace("seal", device=str(getattr(self.pipeline.seal, "device", "cpu")))
        clock = StageClock(trace)
        waited_ms = (pending.ended_s - pending.speech_end_s) * 1000  # the pause, in stream time
        clock.add(Stage.END_OF_TURN, waited_ms)
        # the wall time between the turn ending and this call (a queue, a thread start) counts too
        lag_ms = (clock.start - pending.ended_wall) * 1000
        if self._live_thread is not None:
            self._live_thread.join()  # the embedding under way may be of exactly the final audio
        live = LiveRetrieval(self.pipeline, self.pipeline.search, list(pending.history))  # this turn's, not the next one's
        query, reused = live.final(pending.audio, pending.ended_s)
        if not reused:
            clock.add(Stage.SPEECH_EMBEDDING, query.embed_ms)
            clock.add(Stage.SEARCH, query.search_ms)
        agreement = live.agreement(query, reused, pending.speech_end_s)
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
                if not self._pending:  # the reply audio of a turn still waiting is yet to come
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
        """End the conversation: the turn being answered stops, turns waiting are dropped."""
        with self._lock:
            self._pending.clear()
        if self._answering is not None:
            self._answering.cancel.set()
