"""The spoken-question pipeline: end to end with real models, and every fault it must survive."""
from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from knowledge_base.store import KnowledgeBase, open_client
from rag_app.audio import AudioError
from rag_app.llm import LocalLLM, OpenAICompatibleLLM
from rag_app.model_store import load_seal_model, resolve_model_dir
from rag_app.pipeline import Pipeline
from rag_app.vad import NoSpeechError, SileroVAD
from seal_model.voices import synthesize
from tests.conftest import EchoLLM

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_QUESTIONS = [json.loads(line) for line in open(ROOT / "knowledge_base" / "sample_questions.jsonl")]


@pytest.fixture(scope="module")
def seal(settings):
    return load_seal_model(settings)


@pytest.fixture(scope="module")
def sample_kb(seal, tmp_path_factory):
    kb = KnowledgeBase(open_client(tmp_path_factory.mktemp("chroma")), "sample", seal)
    kb.ingest([ROOT / "knowledge_base" / "sample"], glob="*.jsonl")
    return kb


@pytest.fixture(scope="module")
def vad():
    return SileroVAD()


def _wav(audio: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV")
    return buffer.getvalue()


def _run(pipeline: Pipeline, **kwargs) -> dict:
    events: dict = {"token": []}
    for event in pipeline.answer(**kwargs):
        if event.kind == "token":
            events["token"].append(event.data)
        else:
            events[event.kind] = event.data
    events["answer"] = "".join(events["token"])
    return events


def test_spoken_question_end_to_end_seal_and_asr(settings, seal, sample_kb, vad):
    from rag_app.asr import WhisperTranscriber

    # The shipped checkpoint puts the gold passage in the top 3 for roughly 40% of the sample
    # questions (test_seal_retrieval_floor_on_sample_questions); this test checks the pipeline
    # around the model, so it pins a question the checkpoint is known to get right.
    question = SAMPLE_QUESTIONS[0]  # "who is the director of the fbi in washington dc?"
    audio = synthesize("piper:joe", question["question"])  # a voice the model never trained on
    audio = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(8000, np.float32)])
    llm = LocalLLM(resolve_model_dir(settings, "llm"))
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    pipeline = Pipeline(seal, sample_kb, llm, vad, transcriber, top_k=3, max_new_tokens=40)
    for mode, embed_stage in (("seal", "speech_embedding"), ("asr", "transcription")):
        events = _run(pipeline, audio=_wav(audio), mode=mode)
        retrieved = [p.metadata.get("id") for p in events["passages"]]  # the sample rows' own ids
        assert question["gold"] in retrieved, f"{mode}: gold passage not in the top 3 ({events['heard']!r})"
        assert events["answer"].strip(), f"{mode}: empty answer"
        assert "citations" in events, f"{mode}: no citations event"
        trace = events["trace"]
        expected = {"decode", "vad", embed_stage, "search", "prompt", "first_token", "generation"}
        assert expected <= set(trace.stages_ms), trace.stages_ms
        assert sum(trace.stages_ms.values()) <= trace.total_ms + 1e-6
        assert trace.first_token_ms is not None and trace.first_token_ms <= trace.total_ms


def test_text_mode_and_history(seal, sample_kb):
    pipeline = Pipeline(seal, sample_kb, None)
    events = _run(pipeline, text="who played andy dufresne in the shawshank redemption?", mode="text",
                  history=[("an earlier question", "an earlier answer")])
    assert events["passages"][0].metadata["id"] == SAMPLE_QUESTIONS[1]["gold"]
    assert "no LLM" in events["notice"]


@pytest.mark.parametrize(
    "make_audio, message",
    [
        (lambda tmp: b"", "empty"),
        (lambda tmp: b"this is plain text, not audio at all\n" * 10, "could not decode"),
        (lambda tmp: b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)), "could not decode"),
        (lambda tmp: _wav(np.zeros(32000, np.float32)), "silent"),
        (lambda tmp: _wav(0.2 * np.random.default_rng(0).standard_normal(1600).astype(np.float32)), "at least"),
        (lambda tmp: _wav(np.zeros(16000 * 600, np.float32) + 0.01), "limit is 30 s"),
    ],
    ids=["empty", "text-named-wav", "corrupt", "silence", "0.1s", "10-minutes"],
)
@pytest.mark.faults(fault="a spoken turn on odd audio: {id}", expected="an AudioError whose message says what is wrong")
def test_bad_audio_gets_a_clear_message(seal, sample_kb, vad, tmp_path, make_audio, message, observe):
    pipeline = Pipeline(seal, sample_kb, None, vad)
    with pytest.raises(AudioError, match=message) as raised:
        _run(pipeline, audio=make_audio(tmp_path), mode="seal")
    observe(f"\"{raised.value}\"")


@pytest.mark.faults(fault="a spoken turn on 3 s of noise", expected="a message that no speech was heard")
def test_noise_only_is_no_speech(seal, sample_kb, vad, observe):
    noise = 0.01 * np.random.default_rng(1).standard_normal(16000 * 3).astype(np.float32)
    with pytest.raises(NoSpeechError, match="no speech") as raised:
        _run(Pipeline(seal, sample_kb, None, vad), audio=_wav(noise), mode="seal")
    observe(f"\"{raised.value}\"")


class _FakeServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that misbehaves on purpose (slow or failing)."""

    behaviour = "error"

    def do_GET(self):  # /v1/models
        self._send(200, {"data": [{"id": "m", "object": "model"}], "object": "list"})

    def do_POST(self):
        if self.behaviour == "slow":
            time.sleep(3)
        self._send(500, {"error": {"message": "model crashed"}})

    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.mark.faults(fault="LLM server {id}", expected="the passages and a notice, within the timeout")
@pytest.mark.parametrize("behaviour, message", [("down", "cannot reach"), ("slow", "in time"), ("error", "HTTP 500")],
                         ids=["down (nothing listens)", "slow (no answer within the 1 s timeout)", "failing (HTTP 500)"])
def test_llm_failures_still_return_passages(seal, sample_kb, behaviour, message, observe):
    server = None
    if behaviour == "down":
        url = "http://127.0.0.1:9/v1"
    else:
        handler = type("Handler", (_FakeServer,), {"behaviour": behaviour})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    llm = OpenAICompatibleLLM(url, model="m", timeout_s=1.0)
    started = time.perf_counter()
    events = _run(Pipeline(seal, sample_kb, llm), text="who played andy dufresne?", mode="text")
    elapsed = time.perf_counter() - started
    if server:
        server.shutdown()
    assert events["passages"] and message in events["notice"]
    assert elapsed < 5  # within the configured timeout (plus local work)
    observe(f"after {elapsed:.1f} s: \"{events['notice']}\"")


def test_seal_retrieval_floor_on_sample_questions(seal, sample_kb):
    """A regression floor for the shipped model on a held-out voice, not a quality claim.

    The first 20 sample questions spoken by Piper joe (never trained on): the gold passage must
    be in SEAL's top 3 for at least a quarter of them (the shipped checkpoint reaches ~0.4 here;
    the held-out evaluation in the data card is the real measure). A broken checkpoint, a
    trimming bug or a projection mix-up lands near 3/300.
    """
    questions = SAMPLE_QUESTIONS[:20]
    vectors = seal.embed_speech([synthesize("piper:joe", q["question"]) for q in questions])
    hits = [q["gold"] in [p.metadata.get("id") for p in sample_kb.search(v, 3)] for q, v in zip(questions, vectors)]
    assert sum(hits) >= 5, f"only {sum(hits)}/20 gold passages in SEAL's top 3"


def test_bench_turn_measures_both_modes_on_the_same_clips(settings, seal, sample_kb, vad):
    from rag_app.asr import WhisperTranscriber
    from evaluation.bench import bench_turn

    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    pipeline = Pipeline(seal, sample_kb, None, vad, transcriber, top_k=3)
    clips = [synthesize("flite:slt", q["question"]) for q in SAMPLE_QUESTIONS[:2]]
    result = bench_turn(pipeline, clips, log=lambda _m: None, generate=False)
    assert result["questions"] == 2
    assert {"decode", "vad", "speech_embedding", "search", "total"} <= set(result["stages"]["seal"])
    assert {"transcription", "text_embedding", "search"} <= set(result["stages"]["asr"])
    assert all(row["n"] == 2 for mode in result["stages"].values() for row in mode.values())
    s2p = result["speech_to_passages"]
    assert result["ratio_p50"] == s2p["seal"]["p50_ms"] / s2p["asr"]["p50_ms"] > 0


def test_question_text_decoder_gives_the_llm_whispers_words_from_seals_encoder_states(settings, seal, sample_kb, vad):
    """question_text="decoder": Whisper's decoder reads SEAL's own encoder states (no 30 s encoder
    pass); the LLM gets those words, the retrieval is SEAL's, and the decoding is a timed stage."""
    from rag_app.asr import WhisperTranscriber

    question = SAMPLE_QUESTIONS[0]["question"]
    audio = synthesize("piper:joe", question)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    pipeline = Pipeline(seal, sample_kb, EchoLLM(), vad, transcriber, top_k=3, question_text="decoder")
    events = _run(pipeline, audio=_wav(audio), mode="seal")
    from evaluation.evaluate import word_errors

    errors, words = word_errors(question, events["answer"])
    assert errors / words <= 0.35, events["answer"]  # the reading of this clip is far worse; the decoder nearly exact
    assert events["heard"] == events["answer"]  # the last "heard" is the decoder's text
    assert {"speech_embedding", "search", "question_text"} <= set(events["trace"].stages_ms)
    assert "transcription" not in events["trace"].stages_ms
    with pytest.raises(ValueError, match="needs a Whisper transcriber"):
        Pipeline(seal, sample_kb, None, vad, None, question_text="decoder")


class _Decoder:
    """Whisper's decoder stand-in: says `text` whatever the encoder states (what the turn does with
    the decoder's words is under test, not Whisper)."""

    def __init__(self, text: str):
        self.text = text

    def decode_states(self, states, seconds: float, audio=None) -> str:
        return self.text


def _events(pipeline: Pipeline, **kwargs) -> list:
    return [(event.kind, event.data) for event in pipeline.answer(**kwargs)]


@pytest.fixture(scope="module")
def first_question_wav():
    return _wav(synthesize("piper:joe", SAMPLE_QUESTIONS[0]["question"]))


@pytest.mark.parametrize("seal_search", ["decoder", "speech"])
def test_seal_search_decoder_replaces_seals_passages_with_those_for_the_decoders_words(
        seal, sample_kb, vad, first_question_wav, seal_search):
    """SEAL's passages are shown first; with seal_search="decoder" the decoder's words are searched and
    their passages replace SEAL's for the LLM (and the UI, which shows the last ones); with "speech"
    SEAL's stay. The decoder here "hears" another sample question, so the two searches disagree."""
    other = SAMPLE_QUESTIONS[1]  # Shawshank, not the FBI question the clip asks
    pipeline = Pipeline(seal, sample_kb, EchoLLM(), vad, _Decoder(other["question"]), top_k=3,
                        question_text="decoder", seal_search=seal_search)
    events = _events(pipeline, audio=first_question_wav, mode="seal")
    shown = [data for kind, data in events if kind == "passages"]
    assert [kind for kind, _ in events if kind in ("heard", "passages")][:2] == ["heard", "passages"]
    assert shown[0][0].metadata["id"] != other["gold"]  # SEAL's own search, at once, found its own question's
    prompt_holds = next(data for kind, data in events if kind == "token")
    assert prompt_holds == other["question"]  # the LLM reads the decoder's words either way
    if seal_search == "decoder":
        assert len(shown) == 2 and shown[-1][0].metadata["id"] == other["gold"]
        assert dict(events)["trace"].stages_ms["text_embedding"] > 0  # the decoder's words embedded, timed
    else:
        assert len(shown) == 1


def test_a_looping_decoder_leaves_seals_reading_and_passages(seal, sample_kb, vad, first_question_wav):
    """Whisper's decoder loops on noise ("What What What what What What" on a babble clip): that is
    no question, so the LLM reads SEAL's own reading and SEAL's passages stay."""
    from rag_app.repeats import loops

    looping = "What What What what What What"
    assert loops(looping) and not loops("Who sang Bye Bye Bye?") and not loops("")
    # WhisperTranscriber.decode_states returns "" for such a text: nothing usable
    pipeline = Pipeline(seal, sample_kb, EchoLLM(), vad, _Decoder(""), top_k=3, question_text="decoder",
                        seal_search="decoder")
    events = _events(pipeline, audio=first_question_wav, mode="seal")
    heard = [data for kind, data in events if kind == "heard"]
    shown = [data for kind, data in events if kind == "passages"]
    assert len(heard) == 1 and len(shown) == 1  # nothing replaced
    assert next(data for kind, data in events if kind == "token") == heard[0]  # the LLM reads SEAL's reading


def test_a_weak_best_match_abstains_without_asking_the_llm(seal, sample_kb):
    """abstain_below: a question the knowledge base does not cover gets the plain abstention, and
    the LLM is not asked; a covered one is answered as before."""
    from rag_app.reply import ABSTENTION
    from rag_app.trace import EventKind, StageClock, Trace

    covered = SAMPLE_QUESTIONS[1]["question"]
    pipeline = Pipeline(seal, sample_kb, EchoLLM(), abstain_below=0.3)
    off_topic = _events(pipeline, text="how many grams of flour go into a sourdough starter?", mode="text")
    best = max(p.score for p in dict(off_topic)[EventKind.PASSAGES])
    assert best < 0.3, best  # the sample KB (Wikipedia, no baking) has nothing close
    assert [data for kind, data in off_topic if kind is EventKind.TOKEN] == [ABSTENTION]
    answered = [data for kind, data in _events(pipeline, text=covered, mode="text") if kind is EventKind.TOKEN]
    assert answered and answered != [ABSTENTION]  # the echo LLM was asked
    weak = dict(off_topic)[EventKind.PASSAGES]
    speech_found = pipeline.generate("flour?", weak, None, StageClock(Trace("seal")), gate=False)
    assert [e.data for e in speech_found if e.kind is EventKind.TOKEN] != [ABSTENTION]  # SEAL's vector: another scale
    assert Pipeline(seal, sample_kb, EchoLLM(), abstain_below=-1).abstain_below == 0.45  # auto, for MiniLM
    off = Pipeline(seal, sample_kb, EchoLLM())  # 0: the LLM always answers
    assert [d for k, d in _events(off, text="how many grams of flour go into a sourdough starter?", mode="text")
            if k is EventKind.TOKEN] != [ABSTENTION]


def test_the_first_answer_token_reaches_the_consumer_before_the_llm_writes_the_second(seal, sample_kb):
    """Item 5 of issue 18 ("streamed all the way to the UI"): with replies shaped for voice (3
    sentences), the turn hands out each piece as the LLM writes it; the kept reply comes last and
    takes back what it does not keep (here the sentence the token limit cut)."""
    from rag_app.trace import EventKind

    written: list[str] = []

    class _Counting(EchoLLM):
        def stream(self, messages, max_new_tokens=256):
            for piece in ("Hamlet ", "was ", "written ", "by ", "Shakespeare. ", "He ", "also "):
                written.append(piece)
                yield piece

    pipeline = Pipeline(seal, sample_kb, _Counting(), reply_sentences=3)
    events = pipeline.answer(text="who wrote hamlet?", mode="text")
    first = next(e for e in events if e.kind is EventKind.TOKEN)
    assert first.data == "Hamlet " and written == ["Hamlet "]
    rest = [(e.kind, e.data) for e in events]
    assert [d for k, d in rest if k is EventKind.SENTENCE] == ["Hamlet was written by Shakespeare. "]
    assert [d for k, d in rest if k is EventKind.REPLY] == ["Hamlet was written by Shakespeare. "]
    assert "".join(d for k, d in rest if k is EventKind.TOKEN).endswith("He also ")  # shown, then taken back
