"""The query half of a turn, named once: audio -> checked waveform -> speech only -> query vector.

`Pipeline` (a whole turn) builds on this class, and the measurement code (`evaluation.evaluate`,
`evaluation.latency`) calls the same methods, so an accuracy or latency figure is taken on
exactly what a user's turn runs. It needs no knowledge base or LLM, which is why it lives apart
from the pipeline: a latency run on a bare GPU machine constructs only this.

The three ways to a query vector (the modes of a turn):
- seal: the speech tower embeds the audio; its CTC reading of the same pass is what was heard;
- asr:  Whisper transcribes (same weights), the text tower embeds the transcript;
- text: the text tower embeds typed text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag_app.audio import SAMPLE_RATE, WHISPER_SECONDS, AudioError, decode_audio
from rag_app.protocols import VAD, SpeechEmbedder, Transcriber

MODES = ("seal", "asr", "text")


class QuerySide:
    def __init__(self, seal: SpeechEmbedder, transcriber: Transcriber | None = None, vad: VAD | None = None,
                 min_seconds: float = 0.3, max_seconds: float = WHISPER_SECONDS):
        if max_seconds > WHISPER_SECONDS:
            raise ValueError(f"max_seconds {max_seconds:g} is over Whisper's {WHISPER_SECONDS:.0f} s window: "
                             "both speech paths would silently use only the first 30 s")
        self.seal, self.transcriber, self.vad = seal, transcriber, vad
        self.min_seconds, self.max_seconds = min_seconds, max_seconds

    def decode(self, source: str | Path | bytes | np.ndarray) -> np.ndarray:
        # a file's length is checked from its header, before decoding; an array's here
        audio = source.astype(np.float32) if isinstance(source, np.ndarray) else decode_audio(source, self.max_seconds)
        seconds = len(audio) / SAMPLE_RATE
        if seconds > self.max_seconds:
            raise AudioError(f"the recording is {seconds:.0f} s long; the limit is {self.max_seconds:.0f} s")
        if seconds < self.min_seconds:
            raise AudioError(f"the recording is only {seconds:.2f} s long; speak for at least {self.min_seconds} s")
        if not np.isfinite(audio).all() or float(np.abs(audio).max()) < 1e-4:
            raise AudioError("the recording is silent")
        return audio

    def trim(self, audio: np.ndarray) -> np.ndarray:
        return self.vad.trim(audio).audio if self.vad is not None else audio

    def embed_speech(self, audio: np.ndarray) -> tuple[np.ndarray, str]:
        """SEAL: (query vector, the CTC reading of the same forward pass)."""
        vectors, readings = self.seal.embed_and_read_speech([audio])
        return vectors[0], readings[0]

    def hear(self, audio: np.ndarray) -> tuple[np.ndarray, str, Any]:
        """SEAL as `embed_speech`, plus the clip's Whisper encoder states for `decode_question`
        (followed by the silence the transcriber's decoder reads best after the speech)."""
        silence_s = getattr(self.transcriber, "silence_s", 0.0)
        vectors, readings, states = self.seal.embed_read_and_encode([audio], silence_s=silence_s)
        return vectors[0], readings[0], states[0]

    def decode_question(self, states: Any, seconds: float, audio: np.ndarray | None = None) -> str:
        """Whisper's decoder on the encoder states `hear` kept: the question's words for the LLM
        without the 30 s encoder pass a transcription costs. `audio` (the clip `hear` had): what the
        transcriber may transcribe instead when the decoder's reading looks wrong (its `retry`)."""
        if self.transcriber is None:
            raise RuntimeError("question_text 'decoder' needs the Whisper transcriber")
        return self.transcriber.decode_states(states, seconds, audio=audio)

    def embed_speech_and_reading(self, audio: np.ndarray) -> tuple[np.ndarray, str]:
        """SEAL's vector averaged with the text tower's vector of SEAL's own CTC reading (same
        forward pass, no transcription): the reading spells words the pooled vector blurs, the
        vector carries what a garbled reading loses. Equal weights, chosen before measuring."""
        vector, reading = self.embed_speech(audio)
        fused = vector / np.linalg.norm(vector) + (text := self.embed_text(reading)) / np.linalg.norm(text)
        return (fused / np.linalg.norm(fused)).astype(np.float32), reading

    def transcribe(self, audio: np.ndarray) -> str:
        if self.transcriber is None:
            raise RuntimeError("ASR mode needs a Whisper transcriber")
        return self.transcriber.transcribe(audio)

    def embed_text(self, text: str) -> np.ndarray:
        # an empty transcript still gets a vector (of "."), so a silent ASR turn searches rather than fails
        return self.seal.embed_text([text or "."])[0]
