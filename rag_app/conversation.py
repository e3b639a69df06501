"""Turn-taking for hands-free conversation: a state machine fed microphone audio, emitting events.

No UI and no models in here (the speech detector is handed in), so the same loop drives the web
page, the CLI's microphone and the benchmark, and unit tests feed it synthetic audio. Time is
*stream time*, the seconds of microphone audio fed so far, never the wall clock: a test or a
benchmark fed faster than real time sees exactly what a live microphone would.

    LISTENING --speech--> HEARING --pause / max length--> RESPONDING --reply played--> LISTENING
                              ^                               |
                              +-------- barge-in -------------+

While HEARING, `PARTIAL` events hand out the audio so far every `live_every_s` (live retrieval).
While RESPONDING, the reply's audio is registered with `reply_audio`; user speech then counts
as a barge-in only when it lasts `barge_in_s` and is louder than the echo of the reply the
microphone could pick up (`echo_gain` x the reply's level, with a margin). Speech while the
answer is still being prepared (no reply audio yet) is not a barge-in: it starts the next turn,
and the caller answers turns in order (a question, a pause, a second question: both answered),
handing out no reply audio while `phase` is HEARING (the session holds it until the turn ends).
Browsers also cancel
echo (getUserMedia's echoCancellation, on by default); the guard covers what is left of it and
loudspeakers without any cancellation (the CLI).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000
# The guard wants user speech this many times louder than the loudest echo assumed (6 dB): an
# echo exactly at the assumed gain must not interrupt, and a level estimate is never exact.
ECHO_MARGIN = 2.0


class SpeechDetector(Protocol):
    """A streaming VAD (Silero by default, `rag_app.vad.SileroFrames`): one probability per frame."""

    frame_samples: int

    def speech_probability(self, frame: np.ndarray) -> float:
        """Probability (0-1) that this frame of `frame_samples` 16 kHz samples is speech."""

    def reset(self) -> None:
        """Forget the context carried between frames."""


@dataclass(frozen=True)
class TurnOptions:
    """When a turn starts and ends, and when a reply is interrupted (see `Settings.conv_*`)."""

    pause_s: float = 0.7  # silence that ends a turn
    max_turn_s: float = 20.0  # a monologue is cut here and answered
    min_speech_s: float = 0.2  # shorter bursts (a click, a cough) start no turn
    threshold: float = 0.5  # speech probability of a speech frame
    live_every_s: float = 0.6  # PARTIAL events while hearing (0: none)
    preroll_s: float = 0.3  # audio kept from before the detected start (the VAD reacts late)
    tail_s: float = 0.2  # audio kept after the last speech frame
    barge_in_s: float = 0.2  # speech during a reply that interrupts it
    echo_gain: float = 0.1  # loudest echo of the reply the microphone may hear, as a fraction of its level
    echo_hold_s: float = 1.0  # the guard outlasts the reply's expected end: playback lags what was sent


class Phase(StrEnum):
    LISTENING = "listening"
    HEARING = "hearing"
    RESPONDING = "responding"


class EventType(StrEnum):
    SPEECH_STARTED = "speech_started"
    PARTIAL = "partial"  # the turn's audio so far, for live retrieval
    TURN_ENDED = "turn_ended"
    TURN_TOO_LONG = "turn_too_long"  # comes just before the TURN_ENDED of a cut monologue
    BARGE_IN = "barge_in"  # user speech over a reply: stop it; a new turn is being heard
    REPLY_DONE = "reply_done"  # the reply has been played out: listening again


@dataclass
class Event:
    type: EventType
    at_s: float  # stream time of the event
    audio: np.ndarray | None = None  # PARTIAL and TURN_ENDED: the turn's speech
    speech_end_s: float | None = None  # TURN_ENDED: stream time the user stopped speaking
    message: str = ""
    # PARTIAL: taken in the closing pause, so its audio is the turn's unless speech resumes (work
    # done on it now, such as reading the question, is the turn's own work done early)
    settled: bool = False


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


@dataclass
class _Turn:
    start: int  # sample index of the turn's first kept sample (preroll included)
    last_speech: int  # sample index just after the last speech frame
    next_partial: int  # sample index at which the next PARTIAL is due
    speech_samples: int = 0


@dataclass
class _Reply:
    level: float = 0.0  # RMS of the reply's loudest barge_in_s stretch so far
    playing_until: float = 0.0  # stream time its audio will have finished playing
    finished: bool = False  # no more audio will come


class TurnTaker:
    """Feed it microphone audio (`feed`), tell it about the reply (`reply_audio`, `reply_finished`),
    act on the events it returns."""

    def __init__(self, detector: SpeechDetector, options: TurnOptions = TurnOptions(), sample_rate: int = SAMPLE_RATE):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"the turn-taker runs at {SAMPLE_RATE} Hz; resample the microphone first")
        self.detector, self.options = detector, options
        self.frame = detector.frame_samples
        self.phase = Phase.LISTENING
        self._pending = np.zeros(0, np.float32)  # samples short of a whole frame
        self._history: list[np.ndarray] = []  # the current turn's frames (and the preroll before it)
        self._history_start = 0  # sample index of _history[0]
        # the preroll holds the speech that started the turn (it is detected only after
        # min_speech_s or barge_in_s of it) plus preroll_s before it
        kept_s = options.preroll_s + max(options.min_speech_s, options.barge_in_s)
        self._preroll: deque[np.ndarray] = deque(maxlen=max(1, round(kept_s * SAMPLE_RATE / self.frame)))
        self._samples = 0  # frames fed so far, in samples: stream time x 16000
        self._run = 0  # consecutive speech frames (for the start and the barge-in durations)
        # energy of the recent frames, for the guard's level over a window
        self._energy: deque[float] = deque(maxlen=max(1, round(max(options.min_speech_s, options.barge_in_s) * SAMPLE_RATE / self.frame)))
        self._turn: _Turn | None = None
        self._reply = _Reply()

    # ----- inputs ---------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        return self._samples / SAMPLE_RATE

    def feed(self, audio: np.ndarray) -> list[Event]:
        """Microphone samples (16 kHz mono float32, any length) -> the events they caused."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not np.isfinite(audio).all():
            audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
        buffered = np.concatenate([self._pending, audio])
        whole = len(buffered) // self.frame * self.frame
        self._pending = buffered[whole:]
        events: list[Event] = []
        for start in range(0, whole, self.frame):
            events += self._frame(buffered[start : start + self.frame])
        return events

    def reply_audio(self, audio: np.ndarray, sample_rate: int) -> None:
        """The reply's audio, as it is sent to the speaker: sets the echo guard's level and how
        long the reply plays (it plays after what was sent before it)."""
        if len(audio) == 0:
            return
        if self._reply.finished and self.now_s >= self._reply.playing_until + self.options.echo_hold_s:
            self._reply = _Reply()  # a new reply: the last one's level no longer applies
        # the loudest stretch as long as a barge-in, so it compares with `_speech_over`'s window
        window = max(1, min(len(audio), round(self.options.barge_in_s * sample_rate)))
        energy = np.concatenate([[0.0], np.cumsum(np.square(np.asarray(audio, np.float64)))])
        loudest = float(np.sqrt(np.max(energy[window:] - energy[:-window]) / window))
        self._reply.level = max(self._reply.level, loudest)
        self._reply.finished = False
        self._reply.playing_until = max(self._reply.playing_until, self.now_s) + len(audio) / sample_rate

    def reply_finished(self) -> list[Event]:
        """No more reply audio will come for now (every answer is complete, failed or cancelled)."""
        self._reply.finished = True
        return self._maybe_done()

    # ----- the machine ----------------------------------------------------------------------
    def _frame(self, frame: np.ndarray) -> list[Event]:
        index = self._samples
        self._samples += len(frame)
        speech = self.detector.speech_probability(frame) >= self.options.threshold
        self._run = self._run + 1 if speech else 0
        self._energy.append(float(np.sum(np.square(frame, dtype=np.float64))))
        if self.phase == Phase.HEARING:
            self._history.append(frame)
            return self._hearing(frame, index, speech)
        self._preroll.append(frame)
        if self.phase == Phase.RESPONDING and self._speaking():
            if self._speech_over(self.options.barge_in_s):
                self._reply = _Reply()  # its playback stops now: no more echo to guard against
                return [Event(EventType.BARGE_IN, self.now_s, message="you spoke over the reply: stopped it"),
                        *self._start_turn(self._run)]
            return self._maybe_done()
        if self._speech_over(self.options.min_speech_s):
            return self._start_turn(self._run)  # listening, or the answer is still being prepared
        return self._maybe_done()

    def _speaking(self) -> bool:
        """Reply audio has been sent and may still be playing: the player starts it later than it
        was sent (network, the browser's buffer), so its end is held for `echo_hold_s`."""
        return self._reply.level > 0 and self.now_s < self._reply.playing_until + self.options.echo_hold_s

    def _speech_over(self, seconds: float) -> bool:
        """The last `seconds` were all speech, and louder than any echo of the reply could be.
        Levels are compared over that whole window, not frame by frame: speech dips between
        syllables, and the reply's level is measured over windows of the same length."""
        frames = max(1, round(seconds * SAMPLE_RATE / self.frame))
        if self._run < frames:
            return False
        window = list(self._energy)[-frames:]
        level = float(np.sqrt(sum(window) / (len(window) * self.frame)))
        return level > ECHO_MARGIN * self.options.echo_gain * self._reply_level()

    def _reply_level(self) -> float:
        # the guard holds while the reply can still be heard (plus the echo path's delay)
        return self._reply.level if self._speaking() else 0.0

    def _start_turn(self, speech_frames: int) -> list[Event]:
        """A turn whose speech began `speech_frames` frames ago; the preroll before it is kept."""
        self.phase = Phase.HEARING
        self._history = list(self._preroll)
        self._history_start = self._samples - len(self._history) * self.frame
        self._preroll.clear()
        every = self.options.live_every_s * SAMPLE_RATE
        self._turn = _Turn(start=self._history_start, last_speech=self._samples,
                           next_partial=int(self._samples + every) if every else -1,
                           speech_samples=speech_frames * self.frame)
        return [Event(EventType.SPEECH_STARTED, self.now_s - speech_frames * self.frame / SAMPLE_RATE)]

    def _hearing(self, frame: np.ndarray, index: int, speech: bool) -> list[Event]:
        turn = self._turn
        assert turn is not None
        if speech:
            turn.last_speech, turn.speech_samples = index + len(frame), turn.speech_samples + len(frame)
        events: list[Event] = []
        if self._samples - turn.start >= self.options.max_turn_s * SAMPLE_RATE:
            events.append(Event(EventType.TURN_TOO_LONG, self.now_s, message=(
                f"your turn reached the {self.options.max_turn_s:g} s limit: answering what was said so far")))
            return events + self._end_turn(cut=True)
        if self._samples - turn.last_speech >= self.options.pause_s * SAMPLE_RATE:
            return self._end_turn(cut=False)
        tail = int(self.options.tail_s * SAMPLE_RATE)
        # the moment the tail after the last speech is complete, the turn's audio is final unless
        # speech resumes: a partial then is the query, embedded while the pause is still running
        settled = turn.last_speech + tail <= self._samples
        just_settled = settled and self._samples - len(frame) < turn.last_speech + tail
        if turn.next_partial >= 0 and (self._samples >= turn.next_partial or just_settled):
            turn.next_partial = self._samples + int(self.options.live_every_s * SAMPLE_RATE)
            events.append(Event(EventType.PARTIAL, self.now_s, audio=self.turn_audio(), settled=settled))
        return events

    def turn_audio(self) -> np.ndarray:
        """The current turn's speech: preroll, speech, and `tail_s` after the last speech frame.
        A PARTIAL taken during the closing pause equals the final audio, so its embedding can
        be reused as the query."""
        turn = self._turn
        if turn is None or not self._history:
            return np.zeros(0, np.float32)
        end = min(self._samples, turn.last_speech + int(self.options.tail_s * SAMPLE_RATE))
        return np.concatenate(self._history)[: end - self._history_start]

    def _end_turn(self, cut: bool) -> list[Event]:
        turn = self._turn
        assert turn is not None
        audio = self.turn_audio()
        speech_end = (self._samples if cut else turn.last_speech) / SAMPLE_RATE
        self.phase, self._turn, self._history = Phase.RESPONDING, None, []
        self._reply.finished = False  # this turn's answer is to come (the level still guards the last echo)
        self._run = 0
        return [Event(EventType.TURN_ENDED, self.now_s, audio=audio, speech_end_s=speech_end,
                      message="cut" if cut else "")]

    def _maybe_done(self) -> list[Event]:
        if (self.phase == Phase.RESPONDING and self._reply.finished
                and self.now_s >= self._reply.playing_until + self.options.tail_s):
            self.phase = Phase.LISTENING  # the reply's level still guards its echo for echo_hold_s
            return [Event(EventType.REPLY_DONE, self.now_s)]
        return []
