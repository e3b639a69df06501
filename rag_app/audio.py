"""Audio front end: any file soundfile reads (WAV, FLAC, OGG, MP3) -> mono float32 at 16 kHz.

The header is checked before a sample is decoded: its sample rate, length and size bound the
memory and time decoding and resampling take, so a file that lies in its header (a WAV claiming
1 GHz or 1 Hz) is refused in milliseconds instead of taking seconds and gigabytes.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from seal_model.audio import SAMPLE_RATE, WHISPER_SECONDS, resample

__all__ = ["SAMPLE_RATE", "WHISPER_SECONDS", "AudioError", "audio_seconds", "decode_audio", "resample", "wav_bytes"]

MIN_RATE, MAX_RATE = 4_000, 384_000  # telephone audio .. the highest rate recorders write
MAX_DECODED_SAMPLES = 32_000_000  # 128 MB of float32: 30 s of 8 channels at 96 kHz, with room


class AudioError(ValueError):
    """Unusable audio; the message says why in words a user understands."""


def _require_content(source: str | Path | bytes) -> None:
    try:
        size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    except FileNotFoundError:
        # the web app deletes recordings after ui_upload_max_age_s; a turn asked later finds none
        raise AudioError("the recording is no longer on the server (recordings are kept for a while only): "
                         "record or upload it again") from None
    if size == 0:
        raise AudioError("the audio file is empty")


def _unreadable(exc: Exception) -> AudioError:
    """libsndfile's complaint, cut to its last clause, with what would work instead."""
    reason = str(exc).split(": ")[-1] if ": " in str(exc) else str(exc)
    return AudioError(f"could not decode the audio ({reason}); use WAV, FLAC, OGG or MP3")


_SOUNDFILE_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError)


def _open(source: str | Path | bytes) -> sf.SoundFile:
    _require_content(source)
    try:
        return sf.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except _SOUNDFILE_ERRORS as exc:
        raise _unreadable(exc) from exc


def _check_header(audio: sf.SoundFile, max_seconds: float | None) -> float:
    """The length in seconds, once rate, length and size are known to be sane."""
    rate = audio.samplerate
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"the file's header gives a sample rate of {rate:,} Hz, which no recording uses "
                         f"({MIN_RATE // 1000}-{MAX_RATE // 1000} kHz expected): the file is damaged or mislabelled")
    seconds = audio.frames / rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"the recording is {seconds:.0f} s long; the limit is {max_seconds:.0f} s")
    if audio.frames * audio.channels > MAX_DECODED_SAMPLES:
        raise AudioError(f"the audio is too large to decode ({audio.channels} channels at {rate:,} Hz for {seconds:.0f} s)")
    return seconds


def decode_audio(source: str | Path | bytes, max_seconds: float = WHISPER_SECONDS) -> np.ndarray:
    """Check the header, then decode, down-mix to mono and resample to 16 kHz."""
    try:
        with _open(source) as audio:
            _check_header(audio, max_seconds)
            data = audio.read(dtype="float32", always_2d=True)
            rate = audio.samplerate
    except _SOUNDFILE_ERRORS as exc:
        raise _unreadable(exc) from exc
    if data.size == 0:
        raise AudioError("the audio file is empty")
    return resample(data.mean(axis=1), rate)


def audio_seconds(path: str | Path, max_seconds: float | None = None) -> float:
    """Length of an audio file from its header alone: the page confirms a recording has reached
    the server (and says at once if it cannot be used) without decoding it."""
    try:
        with _open(path) as audio:
            return _check_header(audio, max_seconds)
    except _SOUNDFILE_ERRORS as exc:
        raise _unreadable(exc) from exc


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """A WAV file in memory (the warm-up decodes one, as an upload would be)."""
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV")
    return buffer.getvalue()
