"""Audio helpers shared by training data and serving: everything meets at 16 kHz mono float32."""
from __future__ import annotations

from math import gcd

import numpy as np

SAMPLE_RATE = 16000
# Whisper's window: the speech tower and the ASR baseline hear the first 30 s and no more, so
# the app refuses longer questions with a message rather than silently cutting them.
WHISPER_SECONDS = 30.0


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited polyphase resampling (naive interpolation aliases, which Whisper hears)."""
    if rate == target:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)
