"""One hands-free conversation: microphone audio in, turns answered aloud, barge-in honoured.

`ConversationSession` glues the turn-taker (`rag_app.conversation`), live retrieval
(`rag_app.live`) and the pipeline's answer, and is what the web page, the CLI and the benchmark
drive. Two entry points, usually on two threads:
- `feed(audio)` with microphone audio as it arrives: returns `Update`s (status, live passages,
  notices, a turn ready to answer, a barge-in that must stop playback now);
- `run_turn()` answers the turn that ended: `TurnEvent`s as the pipeline's, plus `AUDIO` per
  reply sentence (synthesised as soon as the LLM finished it), ending with the `TRACE`.
A barge-in seen by `feed` stops `run_turn` at the LLM's next token and drops the turns queued
behind it. A reply sentence ready while the user is speaking (a turn asked while the answer was
prepared) is held, and handed out when that turn ends: no reply starts over the user's speech.

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

from rag_app.conversation import EventType, Phase, SpeechDetector, TurnOptions, TurnTaker
from rag_app.live import Agreement, Heard, LiveRetrieval
from rag_app.pipeline import Pipeline
from rag_app.reply import first_clause
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
        # a reply held while the user speaks waits on this; every `feed` may have ended the turn
        self._fed = threading.Condition(self._lock)
        self._pending: deque[_Pending] = deque()  # turns ended, answered in order
        self._answering: _Pending | None = None
        self._answer_lock = threading.Lock()  # one answer at a time, in the order the turns ended
        # live retrieval runs beside the microphone, never in its way: one embedding at a time,
        # a partial arriving meanwhile is skipped (the next one covers its audio too)
        self._live_thread: threading.Thread | None = None
        self._live_next: tuple[np.ndarray, float, bool, int] | None = None
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
                self._drop_unplayed()
                updates.append(Update(UpdateKind.BARGE_IN, event.message))
            elif event.type == EventType.SPEECH_STARTED:
                with self._lock:
                    self._turn_no += 1
                    self.live.reset()
                updates.append(self._set(Status.HEARING))
            elif event.type == EventType.PARTIAL and self.live_enabled:
                self._start_live(event.audio, event.at_s, event.settled)
            elif event.type == EventType.TURN_TOO_LONG:
                updates.append(Update(UpdateKind.NOTICE, event.message))
            elif event.type == EventType.TURN_ENDED:
                with self._lock:
                    self._pending.append(_Pending(event.audio, event.speech_end_s, event.at_s, event.message == "cut",
                                                  self.live.history))
                updates += [self._set(Status.SEARCHING), Update(UpdateKind.TURN_READY)]
            elif event.type == EventType.REPLY_DONE:
                updates.append(self._set(Status.LISTENING))
        with self._lock:
            self._fed.notify_all()
        return updates

    def _drop_unplayed(self) -> None:
        """Stop the answer under way (at the LLM's next token) and drop the turns waiting: after a
        barge-in the user wants the new turn answered, not what was queued before it."""
        with self._lock:
            self._pending.clear()
            if self._answering is not None:
                self._answering.cancel.set()
            self._fed.notify_all()  # a reply held for the user's turn is dropped now

    def _start_live(self, audio: np.ndarray, at_s: float, settled: bool) -> None:
        with self._lock:
            self._live_next = (audio, at_s, settled, self._turn_no)  # the newest partial wins
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
            audio, at_s, settled, turn_no = job
            heard = self.live.measure(audio, at_s, settled)
            with self._lock:
                if turn_no == self._turn_no:
                    self.live.keep(heard)
                    self._live_ready.append(heard)

    def _set(self, status: Status) -> Update:
        self.status = status
        return Update(UpdateKind.STATUS, status)

    # ----- answering side ---------------------------------------------------------------
    def run_turn(self) -> Iterator[TurnEvent]:
        """Answer the turn that ended (nothing when there is none); cancelled by a barge-in."""
        with self._answer_lock:
            with self._lock:  # popped and marked at once: a barge-in in between would miss it
                pending = self._pending.popleft() if self._pending else None
                self._answering = pending
            if pending is not None:
                try:
                    yield from self._answer(pending)
                finally:
                    with self._lock:
                        self._answering = None

    def _answer(self, pending: _Pending) -> Iterator[TurnEvent]:
        cancel = pending.cancel
        trace = Trace("seal", device=str(getattr(self.pipeline.seal, "device", "cpu")))
        clock = StageClock(trace)
        waited_ms = (pending.ended_s - pending.speech_end_s) * 1000  # the pause, in stream time
        clock.add(Stage.END_OF_TURN, waited_ms)
        # the wall time between the turn ending and this call (a queue, a thread start) counts too
        lag_ms = (clock.start - pending.ended_wall) * 1000
        joined = time.perf_counter()
        if self._live_thread is not None:
            self._live_thread.join()  # the embedding under way may be of exactly the final audio
        waited_live_ms = (time.perf_counter() - joined) * 1000
        live = LiveRetrieval(self.pipeline, self.pipeline.search, list(pending.history))  # this turn's, not the next one's
        query, reused = live.final(pending.audio, pending.ended_s)
        if not reused:
            clock.add(Stage.SPEECH_EMBEDDING, query.embed_ms)
            clock.add(Stage.SEARCH, query.search_ms)
        elif query.decoded is not None:
            # read in the closing pause: the turn waited only for what of it outlasted the pause
            clock.add(Stage.QUESTION_TEXT, waited_live_ms)
        agreement = live.agreement(query, reused, pending.speech_end_s)
        yield TurnEvent(EventKind.HEARD, query.reading)
        yield TurnEvent(EventKind.PASSAGES, query.passages)
        question, passages = query.reading, query.passages
        if self.pipeline.question_text == "decoder" and query.states is not None:
            # as a push-to-talk turn: after the live passages, Whisper's decoder on the states kept
            question, passages = yield from self.pipeline.decoder_question(
                query.states, pending.audio, question, passages, clock, decoded=query.decoded)
        self.status = Status.THINKING
        answer: list[str] = []
        held: list[tuple[int, np.ndarray]] = []  # sentences read aloud, not yet handed out
        shown, ahead = "", ""  # the first sentence as shown so far, and its clause spoken before it ended
        try:
            gate = passages is not query.passages  # searched with the decoder's words (Pipeline.generate)
            for event in self.pipeline.generate(question, passages, self.history, clock, cancel, gate=gate):
                yield event
                if event.kind == EventKind.TOKEN and not answer and not ahead:
                    shown += event.data  # a long first sentence is spoken from its first clause on
                    if clause := first_clause(shown.lstrip()):
                        ahead = clause
                        held += self._read_aloud(clause, clock, cancel)
                        yield from self._hand_out(held, clock, trace, waited_ms + lag_ms, cancel, wait=False)
                elif event.kind == EventKind.SENTENCE:  # spoken whole; the pieces before it were shown as written
                    answer.append(event.data)
                    sentence = event.data.lstrip()
                    if ahead and len(answer) == 1 and sentence.startswith(ahead):
                        sentence = sentence[len(ahead):].lstrip()  # the rest of the sentence whose clause was spoken
                    if sentence.strip():
                        held += self._read_aloud(sentence, clock, cancel)
                    yield from self._hand_out(held, clock, trace, waited_ms + lag_ms, cancel, wait=False)
            yield from self._hand_out(held, clock, trace, waited_ms + lag_ms, cancel, wait=True)
        finally:
            with self._lock:
                if not self._pending:  # the reply audio of a turn still waiting is yet to come
                    self.taker.reply_finished()
            interrupted = cancel.is_set()
            heard = question
            self.history.append((heard, "".join(answer)))
            trace.models = self.pipeline._models()
            clock.finish()
            self.turns.append(TurnRecord(heard, "".join(answer), trace, agreement, pending.cut, interrupted))
        if interrupted:
            yield TurnEvent(EventKind.NOTICE, "you spoke over the reply: stopped it")
        yield TurnEvent(EventKind.TRACE, trace)

    def _read_aloud(self, sentence: str, clock: StageClock, cancel: threading.Event) -> list[tuple[int, np.ndarray]]:
        """The sentence's audio (none without a voice, or once cancelled)."""
        if self.speaker is None or cancel.is_set():
            return []
        with clock.stage(Stage.SYNTHESIS):
            spoken = self.speaker(sentence)
        return [] if spoken is None or cancel.is_set() else [spoken]

    def _hand_out(self, held: list[tuple[int, np.ndarray]], clock: StageClock, trace: Trace, before_ms: float,
                  cancel: threading.Event, wait: bool) -> Iterator[TurnEvent]:
        """The held sentences as AUDIO, unless the user is in the middle of a turn: a reply never
        starts (or goes on) over their speech, it plays when their turn ends. The LLM keeps writing
        meanwhile; with `wait` (it has finished) this waits for that turn to end."""
        with self._lock:
            while wait and held and self.taker.phase == Phase.HEARING and not cancel.is_set():
                self._fed.wait(0.5)  # woken by feed; the timeout only bounds a missed wake-up
            if cancel.is_set():
                held.clear()
            if not held or self.taker.phase == Phase.HEARING:
                return
            ready = held[:]
            held.clear()
            for rate, samples in ready:  # registered as they are sent: the echo guard and playing time
                self.taker.reply_audio(samples, rate)
        if trace.first_audio_ms is None:  # when the user can first hear it, holding included
            trace.first_audio_ms = before_ms + (time.perf_counter() - clock.start) * 1000
        self.status = Status.SPEAKING
        for spoken in ready:
            yield TurnEvent(EventKind.AUDIO, spoken)

    def stop(self) -> None:
        """End the conversation: the turn being answered stops, turns waiting are dropped."""
        self._drop_unplayed()
