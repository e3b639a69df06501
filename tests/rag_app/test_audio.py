"""The audio front end: a file's header is checked before anything is decoded or resampled."""
from __future__ import annotations

import io
import struct
import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from rag_app.audio import AudioError, audio_seconds, decode_audio
from rag_app.pipeline import Pipeline
from rag_app.settings import Settings, load_settings


def _wav(seconds: float, rate: int = 16000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    frames = int(seconds * rate)
    sf.write(buffer, np.full((frames, channels), 0.1, np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _claiming_rate(rate: int) -> bytes:
    """Half a second of real 16 kHz samples under a header that claims another sample rate."""
    raw = bytearray(_wav(0.5))
    raw[24:28] = struct.pack("<I", rate)  # fmt chunk: sample rate, then byte rate
    raw[28:32] = struct.pack("<I", (2 * rate) & 0xFFFFFFFF)
    return bytes(raw)


def _rejected_quickly(source, match: str, **kwargs) -> str:
    """Refused with `match` in under 2 s, allocating under 20 MB on the way; says how it went."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(AudioError, match=match) as raised:
            decode_audio(source, **kwargs)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 20e6, (elapsed, peak)
    return f"refused in {elapsed * 1000:.0f} ms, {peak / 1e6:.1f} MB: \"{raised.value}\""


@pytest.mark.faults(fault="a WAV whose header claims {rate} Hz", expected="refused from the header in < 2 s and < 20 MB")
@pytest.mark.parametrize("rate", [1_000_000_000, 1])
def test_an_absurd_sample_rate_is_refused_from_the_header(rate, observe):
    observe(_rejected_quickly(_claiming_rate(rate), "sample rate"))


@pytest.mark.faults(fault="a 10-minute recording", expected="refused from the header in < 2 s, naming the 30 s limit")
def test_an_overlong_recording_is_refused_before_decoding(tmp_path, observe):
    path = tmp_path / "ten-minutes.wav"
    path.write_bytes(_wav(600))
    observe(_rejected_quickly(path, r"600 s long; the limit is 30 s", max_seconds=30))


@pytest.mark.faults(fault="45 s of audio (over Whisper's 30 s window)", expected="refused with the limit, not silently cut to 30 s")
def test_more_than_whispers_30_seconds_is_refused_not_truncated(observe):
    """Whisper hears 30 s: the speech tower and the ASR baseline would silently drop the rest."""
    with pytest.raises(AudioError, match=r"45 s long; the limit is 30 s"):
        Pipeline(None, None, None).decode(_wav(45))
    assert len(Pipeline(None, None, None).decode(_wav(29))) == 29 * 16000
    assert Settings().max_audio_seconds == 30
    with pytest.raises(ValueError, match="max_audio_seconds.*30"):
        load_settings(environ={"SEAL_RAG_MAX_AUDIO_SECONDS": "60"})
    with pytest.raises(ValueError, match="30"):
        Pipeline(None, None, None, max_seconds=60)
    observe("\"the recording is 45 s long; the limit is 30 s\"; 29 s accepted whole; a 60 s setting is refused")


@pytest.mark.faults(fault="ordinary odd audio: 8 kHz, 48 kHz with 6 channels, 8-bit PCM, OGG Vorbis, MP3",
                    expected="decoded to 16 kHz mono")
def test_ordinary_odd_audio_still_decodes(observe):
    assert decode_audio(_wav(1.0, rate=8000)).shape == (16000,)
    assert decode_audio(_wav(1.0, rate=48000, channels=6)).shape == (16000,)
    lengths = {}
    for kind, (fmt, subtype) in {"8-bit": ("WAV", "PCM_U8"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", None)}.items():
        buffer = io.BytesIO()
        sf.write(buffer, 0.3 * np.sin(np.arange(44100) / 7).astype(np.float32), 44100, format=fmt, subtype=subtype)
        lengths[kind] = len(decode_audio(buffer.getvalue())) / 16000
        assert abs(lengths[kind] - 1.0) < 0.06, lengths  # MP3 pads a frame
    observe("decoded: " + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in lengths.items()))


@pytest.mark.faults(fault="an M4A (AAC) file, which libsndfile cannot read", expected="a message naming the formats that work")
def test_an_unreadable_format_names_the_ones_that_work(tmp_path, observe):
    path = tmp_path / "voice.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(200))
    with pytest.raises(AudioError, match="use WAV, FLAC, OGG or MP3") as raised:
        decode_audio(path)
    observe(f"\"{raised.value}\"")


def test_the_header_check_reports_length_without_decoding(tmp_path):
    path = tmp_path / "odd.wav"
    path.write_bytes(_claiming_rate(1_000_000_000))
    with pytest.raises(AudioError, match="sample rate"):
        audio_seconds(path)
    path.write_bytes(_wav(2.0))
    assert audio_seconds(path) == pytest.approx(2.0)
