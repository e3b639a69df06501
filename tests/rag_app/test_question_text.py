"""The question text the LLM reads in SEAL mode: Whisper's decoder over the encoder states SEAL
already computed (real models), run beside the search, with SEAL's own reading as the fallback."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from knowledge_base.store import Passage
from rag_app.evaluate import word_errors
from rag_app.pipeline import Pipeline
from rag_app.settings import load_settings


def test_the_setting_accepts_only_the_known_options():
    assert load_settings(environ={}).question_text in ("whisper", "seal-reading")
    assert load_settings(environ={"SEAL_RAG_QUESTION_TEXT": "seal-reading"}).question_text == "seal-reading"
    with pytest.raises(ValueError, match="question_text"):
        load_settings(environ={"SEAL_RAG_QUESTION_TEXT": "guess"})


def test_whisper_decoder_reads_seal_states_without_a_second_encoder_pass(settings):
    from rag_app.model_store import load_seal_model, resolve_model_dir
    from rag_app.question_text import StatesTranscriber
    from seal_model.data.voices import synthesize

    seal = load_seal_model(settings)
    reader = StatesTranscriber(resolve_model_dir(settings, "whisper"), seal.speech_encoder.encoder)
    reader.silence_tail()  # the one encoder pass, at start-up
    assert reader.model.model.encoder is seal.speech_encoder.encoder  # one copy of the encoder weights
    question = "who is the director of the fbi in washington dc"
    states, mask = seal.speech_states([synthesize("piper:joe", question)])
    calls = []
    hook = reader.model.model.encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        text = reader.transcribe_states(states, mask)
    finally:
        hook.remove()
    assert not calls, "the decoder ran Whisper's encoder again"
    errors, words = word_errors(question, text)
    assert errors / words <= 0.2, text  # the trimmed states alone gave this question five times over


class _Seal:
    device = "cpu"

    def speech_states(self, waveforms):
        return torch.zeros(1, 5, 2), torch.ones(1, 5)

    def embed_and_read_states(self, states, mask):
        return np.ones((1, 4), np.float32), ["the shan redemption"]


class _KB:
    def search(self, vector, k):
        return [Passage("p", "The Shawshank Redemption stars Tim Robbins as Andy Dufresne.", 0.9, {})]


class _Reader:
    def __init__(self, fail: bool = False):
        self.fail = fail

    def transcribe_states(self, states, mask):
        if self.fail:
            raise RuntimeError("decoder broke")
        return "Who played Andy Dufresne in The Shawshank Redemption?"


def _turn(reader) -> dict:
    events: dict = {}
    wave = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    for event in Pipeline(_Seal(), _KB(), None, question_reader=reader).answer(audio=wave, mode="seal"):
        events[event.kind] = event.data
    return events


def test_the_llm_reads_the_decoders_text_and_falls_back_to_seals_reading():
    events = _turn(_Reader())
    assert events["heard"] == "Who played Andy Dufresne in The Shawshank Redemption?"
    assert {"speech_embedding", "search", "question_text"} <= set(events["trace"].stages_ms)
    events = _turn(_Reader(fail=True))
    assert events["heard"] == "the shan redemption"
    assert "no LLM" in events["notice"] or "decoder failed" in events["notice"]
