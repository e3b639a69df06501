"""What the pipeline is handed, as protocols: any object with these methods will do (the real
models, a server client, or a test's fake), and a type checker can tell which is missing."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol

import numpy as np

if TYPE_CHECKING:
    from rag_app.vad import VadResult

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class SpeechEmbedder(Protocol):
    """Both towers of the SEAL model, as a turn uses them."""

    def embed_and_read_speech(self, waveforms: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """(n, d) L2-normalised vectors and the CTC reading of each clip, from one forward pass."""

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """(n, d) L2-normalised vectors in the same space as the speech vectors."""


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> str:
        """16 kHz mono float32 -> text."""


class VAD(Protocol):
    def trim(self, audio: np.ndarray) -> VadResult:
        """The audio cut to its speech; raises `NoSpeechError` (a ValueError) when there is none."""


class LLM(Protocol):
    name: str

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]:
        """The answer in pieces as they are generated; raises `LLMError` when it cannot answer."""

    def health(self) -> str:
        """One line for the status panel; never raises."""
