"""The converted HF Whisper must behave like the CTranslate2 original it came from."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rag_app.model_store import ct2_whisper_dir


def _ct2_dir(name: str, tmp_path_factory) -> Path:
    """A CTranslate2 model folder as faster-whisper expects it (parts joined for base)."""
    return ct2_whisper_dir(name, tmp_path_factory.mktemp("ct2-" + name.replace(".", "-")))


@pytest.fixture(scope="module", params=["base", "tiny.en"])
def pair(request, settings, tmp_path_factory):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from rag_app.model_store import resolve_model_dir
    from rag_app.settings import replace

    hf_dir = resolve_model_dir(replace(settings, whisper=request.param), "whisper")
    model = WhisperForConditionalGeneration.from_pretrained(hf_dir, dtype=torch.float32).eval()
    processor = WhisperProcessor.from_pretrained(hf_dir)
    return request.param, _ct2_dir(request.param, tmp_path_factory), model, processor


def _faster_whisper_features(audio: np.ndarray) -> np.ndarray:
    """Log-mel features exactly as faster-whisper feeds its decoder (zero-padded to 30 s)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    features = FeatureExtractor()(audio, padding=160)[:, :3000]
    return np.pad(features, ((0, 0), (0, 3000 - features.shape[1])))[None].astype(np.float32)


def test_encoder_matches_ctranslate2(pair, question_audio):
    import ctranslate2

    _name, ct2_dir, model, processor = pair
    features = processor.feature_extractor(question_audio, sampling_rate=16000, return_tensors="np").input_features
    reference = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    expected = np.array(reference.encode(ctranslate2.StorageView.from_array(features), to_cpu=True))
    with torch.no_grad():
        actual = model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() < 1e-3


def test_greedy_transcription_matches_faster_whisper(pair, question_audio):
    from faster_whisper import WhisperModel

    name, ct2_dir, model, processor = pair
    reference = WhisperModel(str(ct2_dir), device="cpu", compute_type="float32")
    language = "en" if name == "base" else None
    segments, _info = reference.transcribe(
        question_audio, beam_size=1, language=language, without_timestamps=True,
        condition_on_previous_text=False, temperature=0.0, vad_filter=False,
    )
    expected = " ".join(segment.text.strip() for segment in segments)

    generate_kwargs = {"language": "en", "task": "transcribe"} if name == "base" else {}
    with torch.no_grad():
        ids = model.generate(
            torch.from_numpy(_faster_whisper_features(question_audio)), num_beams=1, do_sample=False,
            **generate_kwargs,
        )
    actual = processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
    assert "capital" in expected.lower()
    assert actual == expected
