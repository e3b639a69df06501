"""A whole conversation session on real speech, the real SEAL model and Silero, and a real
knowledge base; the LLM is a stand-in whose pace and stopping the tests can watch (the real
ones are covered by tests/rag_app/test_pipeline.py and the browser tests)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.store import KnowledgeBase, open_client
from rag_app.conversation import SAMPLE_RATE, Phase, TurnOptions
from rag_app.model_store import load_seal_model
from rag_app.pipeline import Pipeline
from rag_app.trace import EventKind, Stage
from rag_app.vad import SileroFrames
from rag_app.voice_session import ConversationSession, Status, UpdateKind
from tests.conftest import TINY_PASSAGES, EchoLLM, load_16k, speak

CHUNK = SAMPLE_RATE // 10
OPTIONS = TurnOptions()


class PacedLLM:
    """Answers in words at a fixed pace and notes when its stream is closed (a real LLM's worker
    stops generating then)."""

    name = "paced"

    def __init__(self, seconds_per_piece: float = 0.05):
        self.seconds_per_piece, self.closed_at, self.pieces_given = seconds_per_piece, None, 0

    def stream(self, messages, max_new_tokens=256):
        words = ("Mount Everest is the highest mountain on Earth. It lies in the Himalayas. " * 20).split(" ")
        try:
            for word in words:
                time.sleep(self.seconds_per_piece)
                self.pieces_given += 1
                yield word + " "
        finally:
            self.closed_at = time.perf_counter()

    def health(self) -> str:
        return "up"


def silence(seconds: float) -> np.ndarray:
    return (1e-3 * np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


@pytest.fixture(scope="module")
def seal(settings):
    return load_seal_model(settings)


@pytest.fixture(scope="module")
def knowledge_base(seal, tmp_path_factory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("kb")
    for pid, text in TINY_PASSAGES:
        (folder / f"{pid}.txt").write_text(text)
    kb = KnowledgeBase(open_client(tmp_path_factory.mktemp("chroma")), "conv", seal)
    kb.ingest([folder], glob="*.txt")
    return kb


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> dict[str, np.ndarray]:
    folder: Path = tmp_path_factory.mktemp("speech")
    return {"mountain": load_16k(speak("what is the highest mountain on earth", folder / "m.wav")),
            "river": load_16k(speak("which river carries the most water", folder / "r.wav")),
            "stop": load_16k(speak("stop, tell me about plants instead", folder / "s.wav"))}


def speaker(sentence: str) -> tuple[int, np.ndarray]:
    """Reply audio without Piper's cost: a voiced-like tone, one second per sentence."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    return SAMPLE_RATE, (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 4 * t)) / 2).astype(np.float32)


def feed(session: ConversationSession, audio: np.ndarray, real_time: bool = False) -> list:
    """Chunks to the session; `real_time` paces them as a microphone does, so live retrieval
    (which runs beside the microphone) has the time it would have."""
    updates, started = [], time.perf_counter()
    for start in range(0, len(audio), CHUNK):
        if real_time:
            time.sleep(max(0.0, started + (start + CHUNK) / SAMPLE_RATE - time.perf_counter()))
        updates += session.feed(audio[start : start + CHUNK])
    return updates


def answer(session: ConversationSession) -> list:
    return list(session.run_turn())


def test_a_turn_is_answered_from_its_live_embedding_and_spoken(seal, knowledge_base, spoken):
    session = ConversationSession(Pipeline(seal, knowledge_base, PacedLLM(0.0), reply_sentences=2),
                                  SileroFrames(), OPTIONS, speaker)
    updates = feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]),
                   real_time=True)
    kinds = [u.kind for u in updates]
    assert UpdateKind.TURN_READY in kinds and UpdateKind.LIVE in kinds
    events = answer(session)
    audio = [e for e in events if e.kind == EventKind.AUDIO]
    assert len(audio) == 2  # one per sentence of the reply
    passages = next(e.data for e in events if e.kind == EventKind.PASSAGES)
    assert "Everest" in passages[0].text
    record = session.turns[-1]
    # the live embedding taken in the closing pause was the query: nothing embedded after the turn
    assert record.agreement.reused and Stage.SPEECH_EMBEDDING not in record.trace.stages_ms
    assert record.agreement.saved_ms > 0
    trace = record.trace
    assert trace.first_audio_ms is not None and trace.first_audio_ms >= trace.stages_ms[Stage.END_OF_TURN]
    assert Stage.SYNTHESIS in trace.stages_ms and not record.interrupted
    # played out, the session listens again
    assert Status.LISTENING in [u.data for u in feed(session, silence(2 * len(audio) + 1.0))
                                if u.kind == UpdateKind.STATUS]


def test_a_question_asked_while_the_answer_is_prepared_is_answered_after_it(seal, knowledge_base, spoken):
    session = ConversationSession(Pipeline(seal, knowledge_base, PacedLLM(0.0), reply_sentences=1),
                                  SileroFrames(), OPTIONS, speaker)
    pause = silence(OPTIONS.pause_s + 0.3)
    updates = feed(session, np.concatenate([silence(0.5), spoken["mountain"], pause, spoken["river"], pause]))
    assert [u.kind for u in updates].count(UpdateKind.TURN_READY) == 2
    assert not [u for u in updates if u.kind == UpdateKind.BARGE_IN]
    first, second = answer(session), answer(session)
    heard = [next(e.data for e in events if e.kind == EventKind.PASSAGES)[0].text for events in (first, second)]
    assert "Everest" in heard[0] and "Amazon" in heard[1]
    assert [h for h, _ in session.history] == [t.heard for t in session.turns]


def test_speech_over_the_reply_stops_playback_and_the_llm_quickly(seal, knowledge_base, spoken):
    llm = PacedLLM(0.05)
    session = ConversationSession(Pipeline(seal, knowledge_base, llm, reply_sentences=40), SileroFrames(), OPTIONS,
                                  speaker)
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]))
    events, first_audio = [], threading.Event()

    def run() -> None:
        for event in session.run_turn():
            events.append(event)
            if event.kind == EventKind.AUDIO:
                first_audio.set()

    worker = threading.Thread(target=run)
    worker.start()
    assert first_audio.wait(60), "no reply audio"
    # the user talks over the reply, which the microphone also hears at the echo level assumed
    _, echo = speaker("")
    mic = OPTIONS.echo_gain * np.resize(echo, len(spoken["stop"]))
    barged = None
    for start in range(0, len(mic), CHUNK):
        if any(u.kind == UpdateKind.BARGE_IN for u in session.feed(mic[start : start + CHUNK] + spoken["stop"][start : start + CHUNK])):
            barged = time.perf_counter()
            break
    assert barged is not None, "talking over the reply did not stop it"
    worker.join(10)
    # the LLM's stream was closed within ~300 ms of the barge-in (at its next piece)
    assert llm.closed_at is not None and llm.closed_at - barged < 0.3
    assert llm.pieces_given < 200
    assert session.turns[-1].interrupted
    assert any(e.kind == EventKind.NOTICE and "spoke over" in e.data for e in events)


def over_echo(speech: np.ndarray) -> np.ndarray:
    """The user's speech as the microphone hears it over the reply (its echo at the level assumed)."""
    _, echo = speaker("")
    return speech + OPTIONS.echo_gain * np.resize(echo, len(speech))


def test_a_reply_ready_while_the_user_speaks_waits_for_the_end_of_their_turn(seal, knowledge_base, spoken):
    sentence_ready = threading.Event()

    def noting_speaker(sentence: str) -> tuple[int, np.ndarray]:
        reply = speaker(sentence)
        sentence_ready.set()
        return reply

    session = ConversationSession(Pipeline(seal, knowledge_base, PacedLLM(0.0), reply_sentences=1),
                                  SileroFrames(), OPTIONS, noting_speaker)
    pause, river = silence(OPTIONS.pause_s + 0.3), spoken["river"]
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], pause, river[: len(river) // 2]]))
    assert session.taker.phase == Phase.HEARING  # the user is in the middle of the next question
    events, over_speech = [], []

    def run() -> None:
        for event in session.run_turn():
            events.append(event)
            if event.kind == EventKind.AUDIO:  # what the page or the speakers would start playing now
                over_speech.append(session.taker.phase == Phase.HEARING)

    worker = threading.Thread(target=run)
    worker.start()
    assert sentence_ready.wait(60), "the first answer was never read aloud"
    time.sleep(0.5)  # time enough to hand the sentence out, were it not held
    updates = feed(session, np.concatenate([river[len(river) // 2 :], pause]))
    assert [u.kind for u in updates].count(UpdateKind.TURN_READY) == 1
    worker.join(30)
    assert not worker.is_alive(), "the held reply was not released when the user's turn ended"
    assert over_speech and not any(over_speech), "the queued reply started over the user's speech"
    assert "Everest" in next(e.data for e in events if e.kind == EventKind.PASSAGES)[0].text
    # then the question asked meanwhile is answered and spoken too
    second = answer(session)
    assert "Amazon" in next(e.data for e in second if e.kind == EventKind.PASSAGES)[0].text
    assert any(e.kind == EventKind.AUDIO for e in second)


def test_a_barge_in_drops_the_answer_queued_behind_the_reply(seal, knowledge_base, spoken):
    session = ConversationSession(Pipeline(seal, knowledge_base, PacedLLM(0.05), reply_sentences=40),
                                  SileroFrames(), OPTIONS, speaker)
    pause = silence(OPTIONS.pause_s + 0.3)
    updates = feed(session, np.concatenate([silence(0.5), spoken["mountain"], pause, spoken["river"], pause]))
    assert [u.kind for u in updates].count(UpdateKind.TURN_READY) == 2  # the river question waits its turn
    first_audio = threading.Event()

    def run() -> None:
        for event in session.run_turn():
            if event.kind == EventKind.AUDIO:
                first_audio.set()

    worker = threading.Thread(target=run)
    worker.start()
    assert first_audio.wait(60), "no reply audio"
    updates = feed(session, np.concatenate([over_echo(spoken["stop"]), pause]))
    assert UpdateKind.BARGE_IN in [u.kind for u in updates]
    worker.join(10)
    # the interruption is what the user wants answered now: the river answer, queued behind the
    # stopped reply and not started yet, is dropped rather than read out first
    following = answer(session)
    top = next(e.data for e in following if e.kind == EventKind.PASSAGES)[0].text
    assert "Amazon" not in top and "Photosynthesis" in top
    assert answer(session) == []  # nothing else was waiting
    assert [t.interrupted for t in session.turns] == [True, False]


def test_with_question_text_decoder_the_llm_reads_whispers_words_from_the_live_embeddings_states(
        settings, seal, knowledge_base, spoken):
    """A conversation turn does what a push-to-talk turn does with question_text="decoder": the
    reused live embedding kept its encoder states, Whisper's decoder reads them after the passages
    (a timed stage), and the LLM gets those words, not the CTC reading."""
    from evaluation.evaluate import word_errors
    from rag_app.asr import WhisperTranscriber
    from rag_app.model_store import resolve_model_dir

    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    pipeline = Pipeline(seal, knowledge_base, EchoLLM(), None, transcriber, reply_sentences=0, question_text="decoder")
    session = ConversationSession(pipeline, SileroFrames(), OPTIONS, None)
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]), real_time=True)
    events = answer(session)
    heard = [e.data for e in events if e.kind == EventKind.HEARD]
    asked = "".join(e.data for e in events if e.kind == EventKind.TOKEN)
    assert len(heard) == 2 and heard[-1] in asked  # the reading first, then the decoder's words, which the LLM read
    errors, words = word_errors("what is the highest mountain on earth", heard[-1])
    assert errors / words <= 0.3, heard
    record = session.turns[-1]
    assert record.agreement.reused and Stage.QUESTION_TEXT in record.trace.stages_ms
    assert record.heard == heard[-1]


def test_with_seal_search_decoder_the_live_passages_give_way_to_those_for_the_decoders_words(seal, knowledge_base, spoken):
    """At the end of a conversation turn, as in a push-to-talk turn: the live SEAL passages are shown,
    then replaced by those for the decoder's words, and those are what the LLM reads. The stand-in
    decoder "hears" the Amazon question while the user asked about the mountain."""

    class _Decoder:
        def decode_states(self, states, seconds: float, audio=None) -> str:
            return "which is the longest river in south america"

    pipeline = Pipeline(seal, knowledge_base, EchoLLM(), None, _Decoder(), reply_sentences=0,
                        question_text="decoder", seal_search="decoder")
    session = ConversationSession(pipeline, SileroFrames(), OPTIONS, None)
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]), real_time=True)
    shown = [e.data for e in answer(session) if e.kind == EventKind.PASSAGES]
    assert len(shown) == 2
    assert "Everest" in shown[0][0].text and "Amazon" in shown[-1][0].text
    assert session.turns[-1].heard == "which is the longest river in south america"


class _TimingDecoder:
    """Whisper's decoder stand-in: "reads" the clip's length, so a test can tell which audio it read."""

    def __init__(self):
        self.calls: list[float] = []

    def decode_states(self, states, seconds: float, audio=None) -> str:
        self.calls.append(seconds)
        return f"heard {seconds:.2f} seconds"


def test_the_question_is_read_in_the_closing_pause_not_after_it(seal, knowledge_base, spoken):
    """With question_text="decoder", the decoder reads the settled audio while the pause runs: the
    turn then starts with the question read (one decoder call, of exactly the turn's audio)."""
    decoder = _TimingDecoder()
    pipeline = Pipeline(seal, knowledge_base, EchoLLM(), None, decoder, reply_sentences=0, question_text="decoder")
    session = ConversationSession(pipeline, SileroFrames(), OPTIONS, None)
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]), real_time=True)
    assert decoder.calls, "nothing was read during the pause"
    read_in_pause = len(decoder.calls)
    answer(session)
    record = session.turns[-1]
    assert len(decoder.calls) == read_in_pause  # not read again after the turn ended
    seconds = record.heard.split()[1]
    assert record.heard == f"heard {seconds} seconds" and record.agreement.reused
    assert float(seconds) == pytest.approx(decoder.calls[-1], abs=0.006)
    assert Stage.QUESTION_TEXT in record.trace.stages_ms  # what of the reading outlasted the pause


def test_speech_after_a_settled_partial_is_read_with_the_rest_of_the_turn(seal, knowledge_base, spoken):
    """A pause longer than the tail but shorter than the turn's end: the early reading (of the first
    half) is dropped, and the turn's question is the reading of its whole audio."""
    decoder = _TimingDecoder()
    pipeline = Pipeline(seal, knowledge_base, EchoLLM(), None, decoder, reply_sentences=0, question_text="decoder")
    session = ConversationSession(pipeline, SileroFrames(), OPTIONS, None)
    first = spoken["mountain"][: int(np.flatnonzero(np.abs(spoken["mountain"]) > 0.01)[-1]) + 1]  # espeak pads with silence
    gap = silence((OPTIONS.tail_s + OPTIONS.pause_s) / 2)  # the audio settles, then speech resumes
    feed(session, np.concatenate([silence(0.5), first, gap, spoken["river"], silence(OPTIONS.pause_s + 0.3)]),
         real_time=True)
    answer(session)
    record = session.turns[-1]
    assert len(session.turns) == 1 and len(decoder.calls) >= 2  # the half read in the gap, then the whole
    whole = float(record.heard.split()[1])
    assert whole == pytest.approx(max(decoder.calls), abs=0.006) and whole > (len(first) + len(gap)) / SAMPLE_RATE


class LongFirstSentenceLLM(PacedLLM):
    """Opens with a long sentence, as SmolLM2 does when it copies one from a passage."""

    REPLY = ("Mount Everest, the highest mountain on Earth above sea level at 8,849 metres, lies in the "
             "Mahalangur Himal range of the Himalayas on the border between Nepal and China. It was first climbed in 1953. ")

    def stream(self, messages, max_new_tokens=256):
        for word in self.REPLY.split(" "):
            time.sleep(self.seconds_per_piece)
            self.pieces_given += 1
            yield word + " "


def test_a_long_first_sentence_is_spoken_from_its_first_clause_before_it_ends(seal, knowledge_base, spoken):
    llm, said = LongFirstSentenceLLM(0.02), []

    def noting_speaker(text: str) -> tuple[int, np.ndarray]:
        said.append((text, llm.pieces_given))
        return speaker(text)

    session = ConversationSession(Pipeline(seal, knowledge_base, llm, reply_sentences=2), SileroFrames(), OPTIONS,
                                  noting_speaker)
    feed(session, np.concatenate([silence(0.5), spoken["mountain"], silence(OPTIONS.pause_s + 0.3)]), real_time=True)
    events = answer(session)
    first_sentence_words = len(LongFirstSentenceLLM.REPLY.split(". ")[0].split())
    assert said[0][0] == "Mount Everest, the highest mountain on Earth above sea level at 8,849 metres,"
    assert said[0][1] < first_sentence_words  # read aloud while the LLM was still writing the sentence
    # the rest of the sentence follows, then the next sentence; nothing is said twice
    assert [text for text, _ in said[1:]] == [
        "lies in the Mahalangur Himal range of the Himalayas on the border between Nepal and China. ",
        "It was first climbed in 1953."]
    assert sum(e.kind == EventKind.AUDIO for e in events) == 3
    assert session.turns[-1].answer == LongFirstSentenceLLM.REPLY.rstrip(" ")  # the reply kept is unchanged
