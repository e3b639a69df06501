"""Audio helpers shared by training data and serving: everything meets at 16 kHz mono float32."""
from __future__ import annotations

from math import gcd

import numpy as np

SAMPLE_RATE = 16000


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited polyphase resampling (naive interpolation aliases, which Whisper hears)."""
    if rate == target:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)
