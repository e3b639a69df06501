"""Conversation mode on the chat page: hands-free turns (issue 19). All turn-taking lives in
`rag_app.voice_session`; this module moves audio and updates between it and the browser.

Transport: Gradio 6's own streaming audio, not WebRTC. FastRTC (the WebRTC route, with its
ReplyOnPause) needs gradio < 6, and a WebRTC stack of our own would add a TURN/ICE setup to every
deployment for a gain (tens of ms of transport) far below what the answer costs on a CPU. So:
- in: `gr.Audio(sources=["microphone"], streaming=True)` with `.stream(stream_every=...)`: the
  browser records with getUserMedia (echo cancellation on, the browser's default) and posts a
  chunk every `STREAM_EVERY_S`; each chunk feeds the session's turn-taker;
- out: `gr.Audio(streaming=True, autoplay=True)`: each reply sentence is yielded as soon as Piper
  has read it, so playback starts with the first sentence while the LLM writes the rest;
- a turn that ends (or a barge-in) bumps a hidden counter whose `.change` starts the answer (or
  pauses the player in the browser at once, by JavaScript, while the server stops generating).
"""
from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from html import escape
from typing import Iterator

import gradio as gr
import numpy as np

from rag_app.audio import resample, wav_bytes
from rag_app.conversation import SAMPLE_RATE
from rag_app.pipeline import Pipeline
from rag_app.settings import Settings
from rag_app.speak import SentenceVoice
from rag_app.trace import EventKind
from rag_app.vad import SileroFrames
from rag_app.voice_session import ConversationSession, Status, UpdateKind, turn_options
from ui.render import latency_chart_html, passages_html, sources_title, turn_row

STREAM_EVERY_S = 0.25  # microphone chunks: a turn's end is seen at most this late
MAX_SESSIONS = 64  # conversations kept (each holds a VAD state and its history); the oldest go first
# Stop the reply the moment the server sees a barge-in: the browser has audio buffered ahead.
PAUSE_REPLY_JS = """() => {
  document.querySelectorAll('#conv-reply audio').forEach((a) => a.pause());
  window.__seal_barge_ins = (window.__seal_barge_ins || 0) + 1;
}"""


def status_html(status: Status | str, detail: str = "", answered: int = 0) -> str:
    """The conversation's state, and how many of its turns have been answered."""
    count = f" <small>({answered} turn{'s' if answered != 1 else ''} answered)</small>" if answered else ""
    return (f"<div id='conv-state' class='conv-state' data-state='{escape(str(status))}' data-answered='{answered}'>"
            f"<b>{escape(str(status))}</b>{' — ' + escape(detail) if detail else ''}{count}</div>")


def to_16k(chunk: tuple[int, np.ndarray]) -> np.ndarray:
    """A browser chunk (rate, int16 samples, maybe stereo) -> 16 kHz mono float32."""
    rate, data = chunk
    audio = np.asarray(data)
    audio = audio.astype(np.float32) / 32768.0 if audio.dtype.kind == "i" else audio.astype(np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return resample(audio, int(rate), SAMPLE_RATE)


class Sessions:
    """One `ConversationSession` per browser tab (Gradio's session hash), created on its first chunk."""

    def __init__(self, pipeline: Pipeline, settings: Settings, voice: SentenceVoice):
        self.pipeline, self.settings, self.voice = pipeline, settings, voice
        self._sessions: OrderedDict[str, ConversationSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ConversationSession:
        with self._lock:
            if key not in self._sessions:
                speaker = self.voice if self.voice.available else None
                self._sessions[key] = ConversationSession(self.pipeline, SileroFrames(), turn_options(self.settings), speaker)
                while len(self._sessions) > MAX_SESSIONS:
                    self._sessions.popitem(last=False)[1].stop()
            self._sessions.move_to_end(key)
            return self._sessions[key]

    def end(self, key: str) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.stop()


def build_conversation(page: gr.Blocks, pipeline: Pipeline, settings: Settings, chat: gr.Chatbot, sources: gr.HTML,
                       latency: gr.HTML, turns: gr.Dataframe, turns_state: gr.State, notice: gr.Markdown) -> None:
    """The conversation controls, wired to the page's chat, sources, latency and turns."""
    voice = SentenceVoice()
    # Gradio encodes streamed audio with ffmpeg: without it the reply is shown, not spoken
    voice.available = voice.available and shutil.which("ffmpeg") is not None
    sessions = Sessions(pipeline, settings, voice)
    with gr.Accordion("Conversation mode (hands-free)", open=True, elem_id="conversation"):
        gr.Markdown(f"Press record once and talk: a pause of {settings.conv_pause_s:g} s ends your turn and it is "
                    f"answered aloud; talk over the answer to stop it. Turns are cut at {settings.conv_max_turn_s:g} s."
                    + ("" if voice.available else " *(No Piper voice or no ffmpeg installed: answers are shown, "
                                                  "not spoken.)*"))
        with gr.Row():
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Conversation microphone",
                           elem_id="conv-mic")
            with gr.Column():
                state = gr.HTML(status_html(Status.LISTENING, "press record to start"), elem_id="conv-status")
                reply = gr.Audio(streaming=True, autoplay=True, label="Spoken reply", elem_id="conv-reply",
                                 interactive=False, visible=voice.available)
        live = gr.HTML(elem_id="conv-live")
        turn_no = gr.Number(0, visible="hidden", elem_id="conv-turn-no")
        barge_no = gr.Number(0, visible="hidden", elem_id="conv-barge-no")

    def on_chunk(chunk, turn: float, barge: float, request: gr.Request):
        session = sessions.get(request.session_hash)
        state_out, live_out, notice_out, turn_out, barge_out = gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if chunk is None:
            return state_out, live_out, notice_out, turn_out, barge_out
        for update in session.feed(to_16k(chunk)):
            if update.kind == UpdateKind.STATUS:
                state_out = status_html(update.data, answered=len(session.turns))
            elif update.kind == UpdateKind.LIVE:
                heard = update.data
                live_out = passages_html(heard.passages, f"Forming while you speak ({heard.samples / SAMPLE_RATE:.1f} s heard)")
            elif update.kind == UpdateKind.NOTICE:
                notice_out = f"**Notice:** {update.data}"
            elif update.kind == UpdateKind.TURN_READY:
                turn_out = (turn or 0) + 1
            elif update.kind == UpdateKind.BARGE_IN:
                barge_out, state_out = (barge or 0) + 1, status_html(Status.HEARING, update.data, len(session.turns))
                notice_out = f"**Notice:** {update.data}"  # also when the answer was written and only playing
        return state_out, live_out, notice_out, turn_out, barge_out

    def on_turn(messages: list, rows: list, request: gr.Request) -> Iterator[tuple]:
        session = sessions.get(request.session_hash)
        messages, rows = list(messages or []), list(rows or [])
        messages += [{"role": "user", "content": "(spoken)"}, {"role": "assistant", "content": "…"}]
        answer, passages, skip, searches = "", [], gr.skip(), 0
        for event in session.run_turn():
            if event.kind == EventKind.HEARD:
                messages[-2] = {"role": "user", "content": f"(spoken) {event.data}"}
                yield messages, skip, skip, skip, rows, status_html(Status.SEARCHING, answered=len(session.turns)), skip
            elif event.kind == EventKind.PASSAGES:
                passages = event.data
                searches += 1
                yield (messages, passages_html(passages, sources_title("seal", searches)), skip, skip, rows,
                       status_html(Status.THINKING, answered=len(session.turns)), skip)
            elif event.kind in (EventKind.TOKEN, EventKind.REPLY):  # REPLY: the kept text replaces what was shown
                answer = answer + event.data if event.kind == EventKind.TOKEN else event.data
                messages[-1] = {"role": "assistant", "content": answer}
                yield messages, skip, skip, skip, rows, skip, skip
            elif event.kind == EventKind.AUDIO:
                rate, samples = event.data
                yield messages, skip, skip, skip, rows, status_html(Status.SPEAKING, answered=len(session.turns)), wav_bytes(samples, rate)
            elif event.kind == EventKind.CITATIONS:
                messages[-1] = {"role": "assistant", "content": f"{answer}\n\n*{event.data.label()}*"}
            elif event.kind == EventKind.NOTICE:
                messages[-1] = {"role": "assistant", "content": f"{answer or '(stopped)'}\n\n*({event.data})*"}
                yield messages, skip, skip, skip, rows, skip, skip
            elif event.kind == EventKind.TRACE:
                trace = event.data
                rows.append(turn_row(len(rows) + 1, trace, session.turns[-1].heard if session.turns else ""))
                yield (messages, skip, latency_chart_html([trace]), rows, rows,
                       status_html(session.status, answered=len(session.turns)), skip)

    mic.stream(on_chunk, [mic, turn_no, barge_no], [state, live, notice, turn_no, barge_no], stream_every=STREAM_EVERY_S,
               time_limit=None, concurrency_limit=None, show_progress="hidden")
    turn_no.change(on_turn, [chat, turns_state], [chat, sources, latency, turns, turns_state, state, reply],
                   concurrency_id="turn", show_progress="hidden")
    barge_no.change(None, None, None, js=PAUSE_REPLY_JS)

    def on_stop(request: gr.Request):
        sessions.end(request.session_hash)
        return status_html(Status.LISTENING, "conversation ended: press record to start again")

    mic.stop_recording(on_stop, None, state)

    def on_unload(request: gr.Request) -> None:
        sessions.end(request.session_hash)  # a closed tab's answers stop costing compute

    page.unload(on_unload)
