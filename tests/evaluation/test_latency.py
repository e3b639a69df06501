"""`seal-rag bench latency`'s measurement: every stage timed, checks that catch a broken device path.

Figures are not asserted as speeds (benchmarks are not timed tests); what is asserted is the
report's consistency, and that a run checked against itself as the reference agrees exactly.
"""
import numpy as np
import pytest

from rag_app.asr import WhisperTranscriber
from evaluation.latency import format_latency, measure_latency, percentiles
from rag_app.model_store import load_seal_model, resolve_model_dir
from seal_model.voices import synthesize


@pytest.fixture(scope="module")
def clips(question_audio) -> list[np.ndarray]:
    return [question_audio, synthesize("flite:kal16", "Who wrote the novel Pride and Prejudice?")]


def test_latency_report_times_every_stage_and_checks_itself(settings, clips):
    seal = load_seal_model(settings)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    first = measure_latency(seal, transcriber, clips, warmup=1, log=lambda _m: None)
    assert first.queries == 2 and first.embeddings.shape == (2, seal.config.text_dim)
    assert "novel" in first.transcripts[1].lower()
    for stage in ("seal", "asr", "asr_transcribe", "encoder_trimmed", "encoder_padded"):
        assert 0 < first.stages[stage]["p50_ms"] <= first.stages[stage]["p95_ms"]
    # The ASR path includes its transcription; the ratios are computed from the same p50s.
    assert first.stages["asr"]["p50_ms"] >= first.stages["asr_transcribe"]["p50_ms"]
    ratios = first.to_dict()["ratios"]
    assert ratios["seal_vs_asr_p50"] == pytest.approx(first.stages["seal"]["p50_ms"] / first.stages["asr"]["p50_ms"])
    assert first.checks["batch_invariance_min_cosine"] >= 0.999
    assert "embeddings" not in first.to_dict()

    second = measure_latency(seal, transcriber, clips, warmup=0, log=lambda _m: None,
                             reference={"embeddings": first.embeddings, "transcripts": first.transcripts})
    assert second.checks["min_cosine_to_reference"] >= 0.9999
    assert second.checks["transcripts_same_as_reference"] == 1.0
    text = format_latency(second)
    assert "SEAL / ASR p50" in text and "min_cosine_to_reference" in text


def test_percentiles_of_nothing_are_nan():
    assert all(np.isnan(v) for v in percentiles([]).values())
    assert percentiles([1.0, 3.0])["p50_ms"] == 2.0
