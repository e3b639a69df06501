"""Whisper's decoder on SEAL's encoder states: the greedy loop says what generate() says."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rag_app.model_store import load_seal_model, resolve_model_dir
from seal_model.voices import synthesize

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_decoders_greedy_loop_matches_generate(settings, dtype):
    from transformers.modeling_outputs import BaseModelOutput

    from rag_app.asr import WhisperTranscriber

    seal = load_seal_model(settings)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"), dtype=dtype)
    model = transcriber.model
    questions = [json.loads(line)["question"] for line in open(ROOT / "knowledge_base" / "sample_questions.jsonl")][:3]
    for question in questions:
        audio = synthesize("piper:joe", question)
        _, _, states = (x[0] for x in seal.embed_read_and_encode([audio]))
        encoder = states[None].to(dtype)
        max_length = int(3.5 * len(audio) / 16000) + 10
        with torch.inference_mode():
            reference = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=encoder), num_beams=1,
                                       do_sample=False, max_length=max_length, no_repeat_ngram_size=3,
                                       **transcriber.generate_kwargs)
            ours = transcriber.greedy_tokens(encoder, max_length - 2)  # Whisper's generate() allows max_length - 2 new tokens
        decode = transcriber.processor.tokenizer.decode
        assert decode(ours, skip_special_tokens=True).strip() == decode(reference[0], skip_special_tokens=True).strip()
        assert decode(ours, skip_special_tokens=True).strip()  # it said something


def test_a_reading_cut_short_or_looping_is_not_used_as_the_question():
    from rag_app.asr import usable_reading

    assert usable_reading("Who played Batman in The Dark Knight Rises?", 2.8)
    assert usable_reading("Who is Adele?", 1.2)  # a short question, said quickly
    assert not usable_reading("What", 3.0)  # the decoder stopped after one word of a 3 s question
    assert not usable_reading("—", 2.0) and not usable_reading("", 2.0)
    assert not usable_reading("What What What what What What", 3.0)
