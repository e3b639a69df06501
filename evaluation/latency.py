"""Query latency of SEAL vs the ASR path on one device, clip by clip, with correctness checks.

Why apart from `seal-rag eval`: eval needs a knowledge base (Chroma) and reads audio files;
latency needs only the two query paths (the app's own `QuerySide` stages) and decoded waveforms,
so it needs no knowledge base or LLM and runs on a bare GPU machine too. It also times the part
SEAL's speed rests on: Whisper's encoder on the trimmed clip vs the same clip padded to 30 s
(what standard Whisper, and so the ASR path, always encodes).

Every figure in one report is measured in the same process on the same clips, after warm-up
calls, so ratios are fair; CUDA work is synchronised before each clock read.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from rag_app.query import QuerySide
from seal_model.audio import SAMPLE_RATE
from seal_model.device import describe_device


def percentiles(values: list[float], unit: str = "ms") -> dict[str, float]:
    """{"p50_<unit>", "p95_<unit>"}: the median and the tail every latency table reports."""
    return {f"p{q}_{unit}": float(np.percentile(values, q)) if values else float("nan") for q in (50, 95)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_ms(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    """(fn's result, wall milliseconds), with queued GPU work finished on both sides."""
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return result, (time.perf_counter() - start) * 1000


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@dataclass
class LatencyReport:
    device: str
    queries: int
    audio_seconds: dict[str, float]  # p50/p95 clip length, so the figures can be read against it
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> p50/p95 ms
    checks: dict[str, float] = field(default_factory=dict)
    embeddings: np.ndarray | None = field(default=None, repr=False)  # SEAL vectors, a reference for another device
    transcripts: list[str] = field(default_factory=list, repr=False)

    def ratio(self, stage: str, baseline: str) -> float:
        return self.stages[stage]["p50_ms"] / self.stages[baseline]["p50_ms"]

    def to_dict(self) -> dict:
        payload = {k: v for k, v in asdict(self).items() if k not in ("embeddings", "transcripts")}
        payload["ratios"] = {
            "seal_vs_asr_p50": self.ratio("seal", "asr"),
            "trimmed_vs_padded_encoder_p50": self.ratio("encoder_trimmed", "encoder_padded"),
        }
        return payload


@torch.inference_mode()
def _encoder_ms(seal, wave: np.ndarray, pad_to_30s: bool) -> float:
    """Whisper encoder forward only (log-mel excluded), on the real length or padded to 30 s."""
    encoder = seal.speech_encoder
    mel, lengths = encoder.log_mel([wave])
    if pad_to_30s:
        full = encoder.max_mel_frames  # Whisper's fixed 30 s input
        mel = torch.nn.functional.pad(mel, (0, full - mel.shape[-1]))
        lengths = torch.tensor([full])  # standard Whisper attends over the padding too
    mel = mel.to(encoder.device)
    return timed_ms(lambda: encoder(mel, lengths), encoder.device)[1]


def measure_latency(
    seal,  # SealModel with its speech encoder
    transcriber,  # WhisperTranscriber on the same device and Whisper weights
    waveforms: list[np.ndarray],
    warmup: int = 3,
    reference: dict | None = None,  # {"embeddings": (n, d), "transcripts": [str]} from another device
    log: Callable[[str], None] = print,
) -> LatencyReport:
    """Per clip: SEAL speech -> embedding, ASR speech -> transcript -> embedding, and the
    Whisper encoder trimmed vs padded. Checks ride along: batch invariance on this device and,
    given a reference run from another device, embedding cosine and identical transcripts."""
    device = seal.device
    query_side = QuerySide(seal, transcriber)  # the turn's own query stages, so the figures are the app's
    for wave in waveforms[:warmup]:  # first calls pay for kernel selection and allocator growth
        query_side.embed_speech(wave)
        query_side.embed_text(query_side.transcribe(wave))
        _encoder_ms(seal, wave, pad_to_30s=True)

    timings: dict[str, list[float]] = {k: [] for k in ("seal", "asr", "asr_transcribe", "encoder_trimmed", "encoder_padded")}
    embeddings, transcripts = [], []
    for n, wave in enumerate(waveforms):
        (vector, _reading), ms = timed_ms(lambda: query_side.embed_speech(wave), device)
        timings["seal"].append(ms)
        embeddings.append(vector)
        start = time.perf_counter()
        text, ms = timed_ms(lambda: query_side.transcribe(wave), device)
        timings["asr_transcribe"].append(ms)
        timed_ms(lambda: query_side.embed_text(text), device)
        timings["asr"].append((time.perf_counter() - start) * 1000)
        transcripts.append(text)
        timings["encoder_trimmed"].append(_encoder_ms(seal, wave, pad_to_30s=False))
        timings["encoder_padded"].append(_encoder_ms(seal, wave, pad_to_30s=True))
        if (n + 1) % 25 == 0:
            log(f"{n + 1}/{len(waveforms)} clips")

    seconds = [len(w) / SAMPLE_RATE for w in waveforms]
    report = LatencyReport(describe_device(), len(waveforms),
                           percentiles(seconds, "s"))
    report.stages = {stage: percentiles(values) for stage, values in timings.items()}
    report.checks["batch_invariance_min_cosine"] = batch_invariance(seal, waveforms)
    if reference is not None:
        ref_vectors = np.asarray(reference["embeddings"], dtype=np.float32)
        report.checks["min_cosine_to_reference"] = min(cosine(a, b) for a, b in zip(embeddings, ref_vectors))
        same = sum(a == b for a, b in zip(transcripts, reference["transcripts"]))
        report.checks["transcripts_same_as_reference"] = same / len(transcripts)
    report.embeddings, report.transcripts = np.stack(embeddings), transcripts
    return report


def batch_invariance(seal, waveforms: list[np.ndarray], clips: int = 8) -> float:
    """Lowest cosine between a clip embedded alone and in one batch with the others (>= 0.999 expected)."""
    chosen = sorted(waveforms, key=len)[:: max(1, len(waveforms) // clips)][:clips]
    together = seal.embed_speech(chosen, batch_size=len(chosen))
    return min(cosine(seal.embed_speech([w])[0], v) for w, v in zip(chosen, together))


def format_latency(report: LatencyReport, stages: Iterable[str] = ("seal", "asr", "asr_transcribe", "encoder_trimmed", "encoder_padded")) -> str:
    labels = {
        "seal": "SEAL: speech -> embedding",
        "asr": "ASR: speech -> transcript -> embedding",
        "asr_transcribe": "  of which Whisper greedy transcription",
        "encoder_trimmed": "Whisper encoder, real length",
        "encoder_padded": "Whisper encoder, padded to 30 s",
    }
    lines = [f"device: {report.device}; {report.queries} clips, "
             f"length p50 {report.audio_seconds['p50_s']:.1f} s, p95 {report.audio_seconds['p95_s']:.1f} s"]
    for stage in stages:
        lat = report.stages[stage]
        lines.append(f"  {labels[stage]:<42} p50 {lat['p50_ms']:8.1f} ms   p95 {lat['p95_ms']:8.1f} ms")
    ratios = report.to_dict()["ratios"]
    lines.append(f"SEAL / ASR p50: {ratios['seal_vs_asr_p50']:.3f}; trimmed / padded encoder p50: "
                 f"{ratios['trimmed_vs_padded_encoder_p50']:.3f}")
    lines.extend(f"check {name}: {value:.4f}" for name, value in report.checks.items())
    return "\n".join(lines)
