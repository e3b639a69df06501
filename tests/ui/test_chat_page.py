"""The chat page's audio input, without a browser: what a dropped file or a long recording says."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from gradio.data_classes import FileData

from rag_app.settings import Settings
from ui.chat import build_chat_page


class _Pipeline:
    """Just what building the page and the audio handlers read."""

    max_seconds = 30.0
    seal = kb = llm = transcriber = None


@pytest.fixture(scope="module")
def page():
    return build_chat_page(_Pipeline(), Settings())


def _question_audio(page):
    return next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "question-audio")


def _on_audio_arrival(page, path: str) -> str:
    """What the notice line shows when a recording or upload reaches the server (the change event)."""
    audio = _question_audio(page)
    handler = next(f for f in page.fns.values() if f.inputs == [audio] and f.outputs[0].elem_id == "notice")
    return handler.fn(audio.preprocess(FileData(path=path)))


@pytest.mark.faults(fault="a non-audio file (text, a broken M4A) dropped on the chat page",
                    expected="the notice line names the problem as soon as it arrives (it was ignored silently)")
def test_a_non_audio_file_gets_a_message_not_silence(page, tmp_path, observe):
    """Gradio converts non-WAV uploads with ffmpeg and raised (a bare 'Error', or nothing) when it
    could not; the file now reaches the page, which says what is wrong with it."""
    for name, content in (("notes.txt", b"hello, this is text\n"), ("voice.m4a", b"\x00\x00\x00\x20ftypM4A junk")):
        (tmp_path / name).write_bytes(content)
        notice = _on_audio_arrival(page, str(tmp_path / name))
        assert notice.startswith("**Could not use this audio:** could not decode the audio"), notice
        assert "use WAV, FLAC, OGG or MP3" in notice
    observe(f"\"{notice}\"")


def test_formats_our_decoder_reads_arrive_as_they_are(page, tmp_path):
    path = tmp_path / "question.mp3"
    sf.write(path, 0.1 * np.sin(np.arange(32000) / 10).astype(np.float32), 16000, format="MP3")
    assert _question_audio(page).preprocess(FileData(path=str(path))) == str(path)  # no ffmpeg needed
    assert _on_audio_arrival(page, str(path)).startswith("Question audio received (2.0 s)")


@pytest.mark.faults(fault="a 40 s recording arrives on the chat page", expected="the limit is reported on arrival, before Ask")
def test_the_length_limit_is_reported_when_the_recording_arrives(page, tmp_path, observe):
    path = tmp_path / "long.wav"
    sf.write(path, np.full(16000 * 40, 0.1, np.float32), 16000)
    notice = _on_audio_arrival(page, str(path))
    assert notice == "**Could not use this audio:** the recording is 40 s long; the limit is 30 s"
    observe(f"\"{notice}\"")


def test_the_sources_say_when_seals_passages_were_replaced_by_the_decoders(tmp_path):
    """seal_search="decoder": a SEAL turn shows its passages twice; the title of the second set says
    they come from Whisper's decoder words, so a reader knows what the LLM read."""
    from knowledge_base.store import Passage
    from rag_app.trace import EventKind, Trace, TurnEvent
    from ui.chat import respond

    class _TwoSearches(_Pipeline):
        def answer(self, **kwargs):
            yield TurnEvent(EventKind.HEARD, "who rote hamlet")
            yield TurnEvent(EventKind.PASSAGES, [Passage("p1", "Macbeth is a play.", 0.5, {})])
            yield TurnEvent(EventKind.HEARD, "Who wrote Hamlet?")
            yield TurnEvent(EventKind.PASSAGES, [Passage("p2", "Hamlet was written by Shakespeare.", 0.8, {})])
            yield TurnEvent(EventKind.TOKEN, "Shakespeare.")
            yield TurnEvent(EventKind.TRACE, Trace("seal"))

    path = tmp_path / "q.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    shown = [out[1] for out in respond(_TwoSearches(), str(path), "", "seal", False, [], [], [])
             if isinstance(out[1], str)]
    assert "Sources (SEAL)" in shown[0] and "Macbeth" in shown[0]
    assert "searched again with Whisper&#x27;s decoder words" in shown[-1] and "Shakespeare" in shown[-1]
