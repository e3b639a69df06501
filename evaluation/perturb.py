"""Seeded audio perturbations for the robustness tables: additive noise at a given SNR and speed
change (resampling, so pitch moves with tempo, as `sox speed` does)."""
from __future__ import annotations

import zlib

import numpy as np

from seal_model.audio import SAMPLE_RATE, resample


def _rng(key: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def add_noise(audio: np.ndarray, snr_db: float, key: str = "", seed: int = 0) -> np.ndarray:
    """White Gaussian noise scaled to `snr_db` against the clip's own power (same noise per key)."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) or 1e-10
    noise = _rng(key, seed).standard_normal(len(audio)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """`factor` 1.1 plays 10% faster (and higher)."""
    return resample(audio, round(SAMPLE_RATE * factor), SAMPLE_RATE).astype(np.float32)


CONDITIONS = {
    "snr20": lambda a, key: add_noise(a, 20, key),
    "snr10": lambda a, key: add_noise(a, 10, key),
    "snr5": lambda a, key: add_noise(a, 5, key),
    "speed0.9": lambda a, key: change_speed(a, 0.9),
    "speed1.1": lambda a, key: change_speed(a, 1.1),
}
