"""`seal-rag bench conversation`: spoken turns through the real streaming path, timed as a user
waits for them.

Each question is fed to a `ConversationSession` in microphone-sized chunks, paced to the wall
clock as a microphone delivers them (a chunk is handed over once it has been "recorded"), with
the real Silero VAD, SEAL, knowledge base, LLM and Piper. The turn is answered on its own thread
while the microphone keeps delivering, as in the app, and the reply's audio comes back into the
microphone at the echo level the barge-in guard assumes, so a false barge-in would show.

End of speech -> first audio is measured on the wall clock: from the moment the last speech
sample would have been spoken (its stream time on the paced clock) to the moment the first reply
sentence's audio is ready to play. With `realtime=False` the question audio is fed as fast as it
is processed; that figure then counts the closing pause in stream time instead (reported as
such) and live retrieval competes with nothing. Once the first audio is out nothing more is
measured, so the rest of the reply is fast-forwarded.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from evaluation.latency import percentiles
from rag_app.audio import resample
from rag_app.conversation import SAMPLE_RATE, Phase
from rag_app.trace import EventKind
from rag_app.voice_session import ConversationSession, UpdateKind

CHUNK_S = 0.1  # what a browser or sounddevice hands over at a time
LEAD_S = 0.5  # room tone before each question
TURN_TIMEOUT_S = 120.0


def _room(samples: int, rng: np.random.Generator) -> np.ndarray:
    return (1e-3 * rng.standard_normal(samples)).astype(np.float32)


class _Turn:
    """One question fed to the session; collects the answer on a thread."""

    def __init__(self, session: ConversationSession):
        self.session, self.first_audio_wall, self.echo, self.thread = session, None, [], None
        self.barge_ins, self.error = 0, None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        try:
            for event in self.session.run_turn():
                if event.kind == EventKind.AUDIO:
                    rate, samples = event.data
                    if self.first_audio_wall is None:
                        self.first_audio_wall = time.perf_counter()
                    self.echo.append(self.session.options.echo_gain * resample(samples, rate))
        except Exception as exc:  # noqa: BLE001 - reported with the turn, the run goes on
            self.error = exc

    @property
    def answering(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def _one_turn(session: ConversationSession, clip: np.ndarray, realtime: bool, rng: np.random.Generator) -> dict:
    chunk = int(CHUNK_S * SAMPLE_RATE)
    lead = _room(int(LEAD_S * SAMPLE_RATE), rng)
    question_start = session.taker.now_s + len(lead) / SAMPLE_RATE
    speech_end_s = question_start + len(clip) / SAMPLE_RATE
    audio = np.concatenate([lead, clip])
    turn, echo = _Turn(session), np.zeros(0, np.float32)
    t0 = time.perf_counter() - session.taker.now_s  # wall clock at stream time 0, for this question
    position, deadline = 0, time.perf_counter() + TURN_TIMEOUT_S
    while time.perf_counter() < deadline:
        pacing = realtime and turn.first_audio_wall is None
        if pacing:  # a chunk is delivered once it has been recorded
            time.sleep(max(0.0, t0 + session.taker.now_s + CHUNK_S - time.perf_counter()))
        piece = audio[position : position + chunk] if position < len(audio) else _room(chunk, rng)
        position += chunk
        while turn.echo:
            echo = np.concatenate([echo, turn.echo.pop(0)])
        piece = piece.copy()
        mixed = min(len(echo), len(piece))
        piece[:mixed] += echo[:mixed]
        echo = echo[mixed:]
        for update in session.feed(piece):
            if update.kind == UpdateKind.TURN_READY and turn.thread is None:
                turn.start()
            elif update.kind == UpdateKind.BARGE_IN:
                turn.barge_ins += 1
        if turn.thread is not None and not turn.answering and session.taker.phase == Phase.LISTENING:
            break
        if not pacing and turn.answering:
            time.sleep(0.01)  # fast-forwarding: let the answer thread run
    record = session.turns[-1] if session.turns else None
    if turn.error is not None or record is None or turn.first_audio_wall is None:
        return {"ok": False, "error": repr(turn.error) if turn.error else "no spoken reply"}
    if realtime:
        waited_ms = (turn.first_audio_wall - (t0 + speech_end_s)) * 1000
    else:
        waited_ms = record.trace.first_audio_ms
    return {"ok": True, "speech_end_to_first_audio_ms": waited_ms, "trace_first_audio_ms": record.trace.first_audio_ms,
            "stages_ms": record.trace.stages_ms, "heard": record.heard, "early_match": record.agreement.early_match,
            "reused": record.agreement.reused, "saved_ms": record.agreement.saved_ms, "false_barge_ins": turn.barge_ins,
            "cut": record.cut}


def bench_conversation(session: ConversationSession, clips: list[np.ndarray], realtime: bool = True,
                       log: Callable[[str], None] = print) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for n, clip in enumerate(clips, 1):
        row = _one_turn(session, clip, realtime, rng)
        rows.append(row)
        if row["ok"]:
            log(f"turn {n}/{len(clips)}: end of speech -> first audio {row['speech_end_to_first_audio_ms']:.0f} ms, "
                f"live top-1 1 s early {'=' if row['early_match'] else '!=' if row['early_match'] is False else 'n/a'} final, "
                f"{'reused' if row['reused'] else 're-embedded'}: {row['heard'][:50]!r}")
        else:
            log(f"turn {n}/{len(clips)}: FAILED ({row['error']})")
    ok = [r for r in rows if r["ok"]]
    judged = [r for r in ok if r["early_match"] is not None]
    stages: dict[str, list[float]] = {}
    for row in ok:
        for stage, ms in row["stages_ms"].items():
            stages.setdefault(stage, []).append(ms)
    return {
        "turns": len(clips), "answered": len(ok), "realtime": realtime,
        "speech_end_to_first_audio": percentiles([r["speech_end_to_first_audio_ms"] for r in ok]) if ok else {},
        "stages": {stage: percentiles(values) for stage, values in stages.items()},
        "live_agreement": sum(r["early_match"] for r in judged) / len(judged) if judged else None,
        "live_judged": len(judged),
        "final_reused": sum(r["reused"] for r in ok) / len(ok) if ok else None,
        "saved_ms_mean": float(np.mean([r["saved_ms"] for r in ok])) if ok else None,
        "false_barge_ins": sum(r["false_barge_ins"] for r in ok),
        "rows": rows,
    }
