"""One spoken turn: audio -> embedding -> passages -> prompt -> streamed answer, every stage timed.

Each stage is a method you can call and time alone; `answer` chains them and yields events
(what was heard, the passages, answer tokens, notices) ending with a `Trace`. The CLI, the UI
and the benchmarks all drive this one pipeline.

Modes: "seal" embeds the speech directly and shows its passages at once; by default Whisper's
decoder then reads the encoder states of that same pass, and its words are what the LLM reads and
what the final passages are searched with (`Pipeline.decoder_question`; settings question_text and
seal_search); "asr" transcribes with the same Whisper weights and embeds the transcript (the
baseline); "text" takes typed text.
"""
from __future__ import annotations

import threading
from typing import Any, Iterator

import numpy as np

from knowledge_base.store import KnowledgeBase, Passage
from rag_app.audio import SAMPLE_RATE, WHISPER_SECONDS, decode_audio, wav_bytes
from rag_app.citations import find_citations
from rag_app.focus import focus
from rag_app.llm import LLMError
from rag_app.prompt import build_messages
from rag_app.protocols import LLM, VAD, SpeechEmbedder, Transcriber
from rag_app.query import MODES, QuerySide
from rag_app.reply import ABSTENTION, Sentence, kept_reply, voice_reply
from rag_app.trace import EventKind, Stage, StageClock, Trace, TurnEvent

__all__ = ["MODES", "Pipeline", "Trace", "TurnEvent"]


def until_set(pieces: Iterator[str], cancel: threading.Event) -> Iterator[str]:
    """The pieces until `cancel` is set; closing upstream then stops the LLM's generation."""
    try:
        for piece in pieces:
            if cancel.is_set():
                return
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


# abstain_below's "auto" threshold (opt-in: -1) per text encoder (cosine scales differ between encoders), set on
# a tuning split no reported figure uses (heldout-nq questions 300-399, typed): 0.45 abstained on
# 5% of answerable questions at no accuracy cost, and on 13% with their gold passage removed.
ABSTAIN_BELOW = {"all-MiniLM-L6-v2": 0.45}


class Pipeline(QuerySide):
    def __init__(self, seal: SpeechEmbedder, knowledge_base: KnowledgeBase, llm: LLM | None, vad: VAD | None = None,
                 transcriber: Transcriber | None = None, top_k: int = 4, min_seconds: float = 0.3,
                 max_seconds: float = WHISPER_SECONDS, max_new_tokens: int = 200, reply_sentences: int = 0,
                 question_text: str = "reading", seal_search: str = "speech", passage_chars: int = 0,
                 passage_focus: str = "start", abstain_below: float = 0.0):
        super().__init__(seal, transcriber, vad, min_seconds, max_seconds)
        self.kb, self.llm, self.top_k, self.max_new_tokens = knowledge_base, llm, top_k, max_new_tokens
        self.reply_sentences = reply_sentences  # 0: the LLM's pieces as they come (rag_app.reply)
        if question_text == "decoder" and transcriber is None:
            raise ValueError("question_text 'decoder' needs a Whisper transcriber")
        self.question_text = question_text  # SEAL mode: "reading" (CTC, free) or "decoder" (Whisper's decoder)
        self.seal_search = seal_search  # SEAL mode: "speech" (SEAL's passages stay) or "decoder" (re-searched with its words)
        self.passage_chars = passage_chars  # what the LLM reads of a passage (rag_app.focus); 0: all of it
        self.passage_focus = passage_focus  # which of its sentences: "start" or those sharing the question's words
        if abstain_below < 0:  # auto: the threshold measured for this text encoder, else off
            abstain_below = ABSTAIN_BELOW.get(getattr(getattr(seal, "config", None), "text_encoder_name", ""), 0.0)
        self.abstain_below = abstain_below  # best passage's cosine under this: abstain without the LLM; 0: off

    def warm_up(self) -> None:
        """Run each local stage once so the first user does not pay import and first-call costs."""
        rng = np.random.default_rng(0)
        noise = (0.05 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
        decode_audio(wav_bytes(noise, 22050))
        if self.vad is not None:
            try:
                self.vad.trim(noise)
            except ValueError:
                pass
        self.seal.embed_and_read_speech([noise])
        self.seal.embed_text(["warm up"])

    def warm_up_llm(self) -> None:
        """One tiny answer, so the first turn does not pay the LLM's first-call costs (tens of
        seconds on a busy CPU: a conversation's first reply would come long after the pause)."""
        if self.llm is None:
            return
        try:
            list(self.llm.stream([{"role": "user", "content": "Say hello."}], 4))
        except LLMError:
            pass  # a server that is down is reported by the status panel and the turn itself

    # ----- stages (the query side's are inherited from QuerySide) -----------------------
    def search(self, vector: np.ndarray) -> list[Passage]:
        return self.kb.search(vector, self.top_k)

    # ----- a whole turn -----------------------------------------------------------------
    def answer(self, audio: Any = None, text: str | None = None, mode: str = "seal",
               history: list[tuple[str, str]] | None = None, generate: bool = True) -> Iterator[TurnEvent]:
        """One turn; `generate=False` stops after retrieval (the UI's side-by-side ASR column)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
        trace = Trace(mode, models=self._models(), device=str(getattr(self.seal, "device", "cpu")))
        clock = StageClock(trace)
        if mode == "text":
            if not text or not text.strip():
                raise ValueError("the question is empty")
            question = text.strip()
            with clock.stage(Stage.TEXT_EMBEDDING):
                vector = self.embed_text(question)
        else:
            with clock.stage(Stage.DECODE):
                wave = self.decode(audio)
            with clock.stage(Stage.VAD):
                wave = self.trim(wave)
            if mode == "seal":
                with clock.stage(Stage.SPEECH_EMBEDDING):
                    if self.question_text == "decoder":
                        vector, question, states = self.hear(wave)
                    else:
                        vector, question = self.embed_speech(wave)
            else:
                with clock.stage(Stage.TRANSCRIPTION):
                    question = self.transcribe(wave)
                with clock.stage(Stage.TEXT_EMBEDDING):
                    vector = self.embed_text(question)
            yield TurnEvent(EventKind.HEARD, question)
        with clock.stage(Stage.SEARCH):
            passages = self.search(vector)
        yield TurnEvent(EventKind.PASSAGES, passages)
        speech_passages = passages if mode == "seal" else None
        if mode == "seal" and self.question_text == "decoder":
            question, passages = yield from self.decoder_question(states, wave, question, passages, clock)

        if generate:
            yield from self.generate(question, passages, history, clock, gate=passages is not speech_passages)
        trace.models = self._models()  # a server's model name is known once it has answered
        clock.finish()
        yield TurnEvent(EventKind.TRACE, trace)

    def decoder_question(self, states: Any, wave: np.ndarray, reading: str, passages: list[Passage],
                         clock: StageClock, decoded: str | None = None) -> Iterator[TurnEvent]:
        """SEAL mode with question_text="decoder", after SEAL's passages are shown: Whisper's decoder on
        the encoder states SEAL computed gives the LLM the words, and with seal_search="decoder" those
        words are searched again and their passages replace SEAL's. Why: on questions, names and voices
        no training saw, SEAL's pooled vector finds the gold passage first 0.33 of the time, the
        decoder's words 0.57 (ASR 0.60), and the LLM waits for the decoder anyway, so the better
        passages cost the first token only a text embedding and a search. A decoder that produced
        nothing usable (empty, or looping on noise) leaves the reading and SEAL's passages; with
        decoder_retry a reading that looks wrong is replaced by the padded transcription of `wave`.
        `decoded`: the decoder's words when they were read already (a conversation turn reads them in
        its closing pause). Returns (question, passages) through `yield from`."""
        if decoded is None:
            with clock.stage(Stage.QUESTION_TEXT):
                decoded = self.decode_question(states, len(wave) / SAMPLE_RATE, audio=wave)
        if not decoded:
            return reading, passages
        yield TurnEvent(EventKind.HEARD, decoded)
        if self.seal_search == "decoder":
            with clock.stage(Stage.TEXT_EMBEDDING):
                vector = self.embed_text(decoded)
            with clock.stage(Stage.SEARCH):
                passages = self.search(vector)
            yield TurnEvent(EventKind.PASSAGES, passages)
        return decoded, passages

    def generate(self, question: str, passages: list[Passage], history: list[tuple[str, str]] | None,
                 clock: StageClock, cancel: threading.Event | None = None, gate: bool = True) -> Iterator[TurnEvent]:
        """Prompt, streamed answer and citations; an unreachable LLM degrades to passages only.
        `cancel` set (a barge-in) stops the answer at the LLM's next token, and its generation.
        `gate`: the passages were found with a text vector, whose cosines `abstain_below` was set on
        (SEAL's speech vector scores lower: median best cosine 0.52 vs 0.62 typed on heldout-nq)."""
        with clock.stage(Stage.PROMPT):
            question = question or "(inaudible question)"
            read = focus(passages, self.passage_chars, question, self.passage_focus)
            messages = build_messages(question, read, history)
        if self.llm is None:
            yield TurnEvent(EventKind.NOTICE, "no LLM configured: showing the retrieved passages only")
            return
        if gate and self.abstain_below and max((p.score for p in passages), default=-1.0) < self.abstain_below:
            # SmolLM2 ignores the prompt's instruction to abstain (0.00-0.03 with the gold passage
            # removed); a weak best match is the one signal that does not depend on the model
            yield TurnEvent(EventKind.TOKEN, ABSTENTION)
            yield TurnEvent(EventKind.SENTENCE, ABSTENTION)
            yield TurnEvent(EventKind.REPLY, ABSTENTION)
            return
        shown, kept, failure = False, [], None
        try:
            pieces = clock.stream(self.llm.stream(messages, self.max_new_tokens))
            for part in voice_reply(until_set(pieces, cancel) if cancel else pieces, self.reply_sentences):
                if isinstance(part, Sentence):
                    kept.append(part)
                    yield TurnEvent(EventKind.SENTENCE, part.text)
                else:
                    shown = True
                    yield TurnEvent(EventKind.TOKEN, part.text)
        except LLMError as exc:
            failure = exc
        reply = kept_reply(kept)
        if shown:  # what was shown and not kept (an unfinished or repeated sentence) is taken back
            yield TurnEvent(EventKind.REPLY, reply)
        if failure is not None:
            cut = "the answer above is cut short" if shown else "showing the retrieved passages only"
            yield TurnEvent(EventKind.NOTICE, f"{failure}; {cut}")
        if reply:
            yield TurnEvent(EventKind.CITATIONS, find_citations(reply, passages))

    def _models(self) -> dict[str, str]:
        config = getattr(self.seal, "config", None)
        names = {"whisper": getattr(config, "whisper_name", ""), "text_encoder": getattr(config, "text_encoder_name", "")}
        if self.llm is not None:
            names["llm"] = getattr(self.llm, "name", "")
        return names
