"""Audio front end: any file soundfile reads (WAV, FLAC, OGG, MP3) -> mono float32 at 16 kHz."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from seal_model.audio import SAMPLE_RATE, resample

__all__ = ["SAMPLE_RATE", "AudioError", "audio_seconds", "decode_audio", "resample"]


class AudioError(ValueError):
    """Unusable audio; the message says why in words a user understands."""


def _require_content(source: str | Path | bytes) -> None:
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size == 0:
        raise AudioError("the audio file is empty")


def _unreadable(exc: Exception) -> AudioError:
    """libsndfile's complaint, cut to its last clause, with what would work instead."""
    reason = str(exc).split(": ")[-1] if ": " in str(exc) else str(exc)
    return AudioError(f"could not decode the audio ({reason}); use WAV, FLAC, OGG or MP3")


_SOUNDFILE_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError)


def decode_audio(source: str | Path | bytes) -> np.ndarray:
    """Decode, down-mix to mono and resample to 16 kHz."""
    _require_content(source)
    try:
        data, rate = sf.read(io.BytesIO(source) if isinstance(source, bytes) else str(source), dtype="float32", always_2d=True)
    except _SOUNDFILE_ERRORS as exc:
        raise _unreadable(exc) from exc
    if data.size == 0:
        raise AudioError("the audio file is empty")
    return resample(data.mean(axis=1), rate)


def audio_seconds(path: str | Path) -> float:
    """Length of an audio file from its header alone: the page confirms a recording has reached
    the server (and says if it cannot be read) without decoding it."""
    _require_content(path)
    try:
        return float(sf.info(str(path)).duration)
    except _SOUNDFILE_ERRORS as exc:
        raise _unreadable(exc) from exc
