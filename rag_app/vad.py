"""Voice-activity trimming with Silero VAD (a small neural model shipped inside its PyPI package).

Trimming leading and trailing non-speech matters twice: SEAL encodes the real length, so
silence costs encoder time, and both towers were trained on tightly cut TTS clips.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from rag_app.settings import Settings
from seal_model.audio import SAMPLE_RATE


class NoSpeechError(ValueError):
    """The audio holds no detectable speech."""


@dataclass
class VadResult:
    audio: np.ndarray
    start_s: float
    end_s: float


def load_silero(form: str = "jit"):
    """A Silero model, leaving the process's torch thread count as it was. Importing the
    `silero_vad` package sets torch to one thread for the whole process (its model.py calls
    torch.set_num_threads(1)), so every later stage of a turn (SEAL's pass, Whisper's decoder, the
    LLM's prefill) ran on one core of two: the embedded LLM's first token took 949 ms instead of
    565 ms (docs/results/answers, stop 35). `form`: "jit" (torch), "onnx" (frame by frame in
    onnxruntime) or "sequence" (a whole clip in one onnxruntime call)."""
    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad

    model = load_silero_vad(onnx=form == "onnx", sequence=form == "sequence")
    torch.set_num_threads(threads)
    return model


def _onnx_or_jit(form: str):
    """Silero in onnxruntime (`form`), or its torch JIT model where onnxruntime or this package
    version lacks it. Why onnxruntime: one thread of its own (a frame stream never competes with
    the LLM's torch threads) and less per-call overhead (a 3.5 s clip: 38 ms frame by frame, 10 ms
    as one sequence, vs 66 ms for the JIT model on 2 threads; the same segments on 20 of 20 clips:
    docs/results/answers, stop 36)."""
    try:
        return load_silero(form), form
    except (ImportError, AttributeError, TypeError, OSError, ValueError):
        return load_silero("jit"), "jit"


class SileroVAD:
    def __init__(self, threshold: float = Settings.vad_threshold, pad_ms: int = Settings.vad_pad_ms):
        self.model, self.form = _onnx_or_jit("sequence")
        self.threshold = threshold
        self.pad = int(SAMPLE_RATE * pad_ms / 1000)
        self._lock = threading.Lock()  # the JIT model keeps state between calls

    def speech_segments(self, audio: np.ndarray) -> list[dict]:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if self.form == "sequence":  # stateless: one onnxruntime call per 16 s of audio
            from silero_vad.sequence_vad import get_speech_timestamps_sequence

            return get_speech_timestamps_sequence(audio, self.model, threshold=self.threshold, sampling_rate=SAMPLE_RATE)
        from silero_vad import get_speech_timestamps

        with self._lock, torch.inference_mode():
            segments = get_speech_timestamps(torch.from_numpy(audio), self.model, threshold=self.threshold,
                                             sampling_rate=SAMPLE_RATE)
            self.model.reset_states()
        return segments

    def trim(self, audio: np.ndarray) -> VadResult:
        """Cut to the first..last speech segment (plus a little padding); raise if none."""
        segments = self.speech_segments(audio)
        if not segments:
            raise NoSpeechError("no speech detected in the recording (silence or noise only)")
        start = max(0, segments[0]["start"] - self.pad)
        end = min(len(audio), segments[-1]["end"] + self.pad)
        return VadResult(audio[start:end], start / SAMPLE_RATE, end / SAMPLE_RATE)


FRAME_SAMPLES = 512  # Silero's streaming window at 16 kHz (32 ms)


class SileroFrames:
    """Silero run frame by frame, as a stream arrives (the `SpeechDetector` protocol of
    `rag_app.conversation`). Stateful, so one per conversation: the model carries context
    from frame to frame, which is what makes a 32 ms window reliable."""

    frame_samples = FRAME_SAMPLES

    def __init__(self) -> None:
        self.model, self.form = _onnx_or_jit("onnx")

    def speech_probability(self, frame: np.ndarray) -> float:
        with torch.inference_mode():
            return float(self.model(torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)), SAMPLE_RATE))

    def reset(self) -> None:
        self.model.reset_states()
