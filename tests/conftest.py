"""Shared fixtures: the prepared default models (built once per cache) and real TTS audio."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rag_app.settings import Settings, apply_offline_environment, load_settings

apply_offline_environment()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings as a user would resolve them, with the default models prepared (idempotent)."""
    from rag_app.model_store import prepare_models

    resolved = load_settings()
    prepare_models(resolved, log=lambda _msg: None)
    return resolved


def speak(text: str, path: Path, voice: str = "en-us", rate: int = 150) -> Path:
    """Synthesize `text` with espeak-ng (a real TTS engine from Debian) into a WAV file."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run `make setup` (installs it with apt when root)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)
    return path


def load_16k(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz, resampled with faster-whisper's PyAV decoder (test-only)."""
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=16000)


@pytest.fixture(scope="session")
def question_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "question.wav"
    return speak("What is the capital city of France, and how many people live there?", path)


@pytest.fixture(scope="session")
def question_audio(question_wav) -> np.ndarray:
    audio = load_16k(question_wav)
    assert sf.info(str(question_wav)).duration > 1.0
    return audio
