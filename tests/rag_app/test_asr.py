"""Whisper's decoder on SEAL's encoder states: the greedy loop says what generate() says."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rag_app.model_store import load_seal_model, resolve_model_dir
from rag_app.sentences import first_sentence
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


def test_silence_after_the_speech_reaches_the_decoder_but_not_seals_vector(settings):
    """The encoder pass the decoder reads may end in silence (Settings.decoder_silence_s): the states
    returned hold it, SEAL's vector and reading are those of the speech frames of that same pass
    (equal to pooling a slice of its states), and a batch does not change a clip's result."""
    import numpy as np

    from seal_model.speech_encoder import frames_after_convs

    seal = load_seal_model(settings)
    audio = synthesize("piper:joe", "Who wrote the novel Middlemarch?")
    short = audio[: len(audio) // 2]
    trimmed, _, trimmed_states = seal.embed_read_and_encode([audio])
    vectors, readings, states = seal.embed_read_and_encode([audio, short], silence_s=1.0)
    assert states[0].shape[0] == trimmed_states[0].shape[0] + 50  # 1 s: 100 mel frames, 50 encoder frames
    speech = int(frames_after_convs(len(audio) // 160))
    for samples in (1, 479, 480, len(audio), 31 * 16000):  # what log_mel gives, short and over the window
        assert seal.speech_encoder.mel_frames(samples) == int(seal.speech_encoder.log_mel([np.ones(samples, np.float32)])[1][0])
    with torch.inference_mode():
        sliced = seal.speech_forward(states[0][None, :speech], torch.ones(1, speech))
    np.testing.assert_allclose(vectors[0], sliced.embedding.float().numpy()[0], atol=1e-5)
    alone, _, alone_states = seal.embed_read_and_encode([audio], silence_s=1.0)
    np.testing.assert_allclose(vectors[0], alone[0], atol=1e-5)
    torch.testing.assert_close(states[0], alone_states[0], atol=1e-4, rtol=1e-4)
    # the speech frames were encoded with the silence after them: close to the trimmed pass, not equal
    assert 0.95 < float(vectors[0] @ trimmed[0]) < 1.0
    assert readings[0]  # SEAL still reads the question


def test_the_decoder_stops_at_the_first_sentences_end_with_the_reading_unchanged(settings):
    """decode_states keeps only the first sentence, so its loop stops there: its tokens are the
    start of a whole run's, and its reading is the first sentence a whole run gives."""
    from rag_app.asr import WhisperTranscriber, token_budget

    seal = load_seal_model(settings)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    decode = transcriber.processor.tokenizer.decode
    questions = [json.loads(line)["question"] for line in open(ROOT / "knowledge_base" / "sample_questions.jsonl")][:3]
    stopped_early = 0
    for question in questions:
        audio = synthesize("piper:joe", question)
        for silence_s in (0.0, 0.5):  # without silence after it, Whisper often says the question twice
            _, _, states = seal.embed_read_and_encode([audio], silence_s=silence_s)
            budget = token_budget(len(audio) / 16000)
            whole = transcriber.greedy_tokens(states[0][None], budget)
            short = transcriber.greedy_tokens(states[0][None], budget, until_sentence_end=True)
            assert short == whole[:len(short)]
            stopped_early += len(short) < len(whole)
            first = first_sentence(decode(whole, skip_special_tokens=True).strip())
            assert first and first_sentence(decode(short, skip_special_tokens=True).strip()) == first
            assert transcriber.decode_states(states[0], len(audio) / 16000) in ("", first)
    assert stopped_early  # the first question is said twice on its trimmed states


def test_a_reading_that_looks_misread_is_told_from_a_plain_question():
    from rag_app.asr import looks_misread

    assert not looks_misread("Who played Batman in The Dark Knight Rises?", True, 2.8)
    assert looks_misread("Who sang Bye Bye Bye?", True, 1.5)  # a false alarm: it costs a transcription, not the words
    assert looks_misread("Who made the song How far I'll go who made the son how", True, 3.0)  # said twice
    assert looks_misread("Who play d d d l l l m n n n", True, 2.5)  # a stutter: "d d" twice
    assert looks_misread("Name of", True, 3.0)  # cut short
    assert looks_misread("Who owns the Encore hotel in Las", False, 2.5)  # ran out of tokens mid-sentence


def test_a_misread_question_is_transcribed_the_padded_way_when_retry_is_on(settings, monkeypatch):
    """decoder_retry: when the decoder's reading of trimmed states looks wrong, the turn takes the
    padded transcription of the same clip instead; a reading that looks right costs no transcription,
    and without the clip (or with retry off) the reading is judged as before (usable or not)."""
    from rag_app.asr import WhisperTranscriber

    seal = load_seal_model(settings)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"), retry=True)
    audio = synthesize("piper:joe", "Who wrote the novel Middlemarch?")
    _, _, states = seal.embed_read_and_encode([audio], silence_s=transcriber.silence_s)
    seconds = len(audio) / 16000

    transcribed = []
    padded = transcriber.transcribe
    expected = padded(audio)  # Whisper base: "who wrote the novel Middle Mart."
    monkeypatch.setattr(transcriber, "transcribe", lambda clip: transcribed.append(clip) or padded(clip))
    stutter = transcriber.processor.tokenizer.encode(" Who wrote the the novel the novel", add_special_tokens=False)
    monkeypatch.setattr(transcriber, "greedy_tokens", lambda *args, **kwargs: transcriber.prompt + stutter)
    said_twice = "Who wrote the the novel the novel"
    assert transcriber.decode_states(states[0], seconds) == said_twice  # no clip to transcribe: kept as before
    retried = transcriber.decode_states(states[0], seconds, audio=audio)
    assert len(transcribed) == 1 and transcribed[0] is audio
    assert retried == expected and "novel" in retried
    transcriber.retry = False
    assert transcriber.decode_states(states[0], seconds, audio=audio) == said_twice and len(transcribed) == 1

    ended = transcriber.processor.tokenizer.encode(" Who wrote Middlemarch?", add_special_tokens=False)
    monkeypatch.setattr(transcriber, "greedy_tokens", lambda *args, **kwargs: transcriber.prompt + ended)
    transcriber.retry = True
    assert transcriber.decode_states(states[0], seconds, audio=audio) == "Who wrote Middlemarch?"
    assert len(transcribed) == 1  # the budget ran out right at its question mark: finished, used as it is

    eos = transcriber.model.generation_config.eos_token_id
    monkeypatch.setattr(transcriber, "greedy_tokens", lambda *args, **kwargs: transcriber.prompt + ended + [eos])
    assert transcriber.decode_states(states[0], seconds, audio=audio) == "Who wrote Middlemarch?"
    assert len(transcribed) == 1  # a reading that looks right is used as it is
