"""Seeded acoustic augmentation for training clips, and the perturbations evaluation applies.

Synthesized voices are clean, close-miked and steady; the people who use the app are not. Each
training clip draws a chain from its own generator (seed + clip key), so a cache rebuilt later,
on another machine or by another worker, holds the same audio:

    speed (tempo and pitch together) -> pitch shift (tempo kept) -> room reverberation
    -> telephone band -> additive noise (white / pink / brown / babble of other clips) -> gain

The sox effects (pitch, reverb, band) run in one `sox` process per clip with dither off, which
makes them deterministic; the noises are shaped in numpy.
"""
from __future__ import annotations

import shutil
import subprocess
import zlib
from dataclasses import dataclass

import numpy as np

from seal_model.audio import SAMPLE_RATE, resample

NOISE_KINDS = ("white", "pink", "brown", "babble")


def clip_rng(key: str, seed: int = 0) -> np.random.Generator:
    """The generator for one clip: a function of (seed, key) only."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


@dataclass(frozen=True)
class Augmentation:
    """One clip's chain; the defaults change nothing."""

    speed: float = 1.0  # resampling: 1.1 plays 10% faster and higher
    pitch_cents: int = 0  # sox pitch: moves pitch, keeps tempo
    reverb: int = 0  # sox reverberance 0-100 (0 = dry)
    room_scale: int = 100  # sox reverb room scale, %
    telephone: bool = False  # 300-3400 Hz, as a phone line passes
    noise: str = ""  # one of NOISE_KINDS, or "" for none
    snr_db: float = 0.0
    gain_db: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.speed != 1.0:
            parts.append(f"speed{self.speed:.2f}")
        if self.pitch_cents:
            parts.append(f"pitch{self.pitch_cents:+d}")
        if self.reverb:
            parts.append(f"reverb{self.reverb}")
        if self.telephone:
            parts.append("telephone")
        if self.noise:
            parts.append(f"{self.noise}{self.snr_db:.0f}dB")
        if self.gain_db:
            parts.append(f"gain{self.gain_db:+.0f}")
        return "+".join(parts) or "clean"


def draw_augmentation(rng: np.random.Generator, clean_share: float = 0.25) -> Augmentation:
    """A random chain: a quarter of clips stay clean (the test voices are clean too); the rest
    get each effect with its own chance, so effects combine as they do in real rooms."""
    if rng.random() < clean_share:
        return Augmentation()
    return Augmentation(
        speed=float(np.round(rng.uniform(0.88, 1.15), 2)) if rng.random() < 0.5 else 1.0,
        pitch_cents=int(rng.integers(-300, 301)) if rng.random() < 0.4 else 0,
        reverb=int(rng.integers(20, 80)) if rng.random() < 0.3 else 0,
        room_scale=int(rng.integers(30, 100)),
        telephone=bool(rng.random() < 0.1),
        noise=str(rng.choice(NOISE_KINDS)) if rng.random() < 0.5 else "",
        snr_db=float(np.round(rng.uniform(5, 25))),
        gain_db=float(np.round(rng.uniform(-12, 6))) if rng.random() < 0.3 else 0.0,
    )


def colored_noise(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f^2) noise of unit power."""
    white = rng.standard_normal(length)
    if kind == "white" or length < 2:
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(length)
        freqs[0] = freqs[1]
        exponent = {"pink": 0.5, "brown": 1.0}[kind]
        shaped = np.fft.irfft(spectrum / freqs**exponent, n=length)
    return (shaped / (np.sqrt(np.mean(shaped**2)) or 1.0)).astype(np.float32)


def babble(length: int, sources: list[np.ndarray], rng: np.random.Generator, talkers: int = 4) -> np.ndarray:
    """Other clips summed at random offsets, looped to `length`: a room of other speakers."""
    out = np.zeros(length, dtype=np.float64)
    for _ in range(min(talkers, len(sources))):
        src = sources[int(rng.integers(len(sources)))]
        if len(src) == 0:
            continue
        looped = np.tile(src, length // len(src) + 2)
        start = int(rng.integers(len(src)))
        out += looped[start : start + length] / (np.sqrt(np.mean(src.astype(np.float64) ** 2)) or 1.0)
    power = np.sqrt(np.mean(out**2))
    return (out / power).astype(np.float32) if power else out.astype(np.float32)


def mix_at_snr(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`noise` (unit power) scaled to `snr_db` below the clip's own power, added."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) or 1e-10
    return (audio + noise[: len(audio)] * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """`factor` 1.1 plays 10% faster (and higher), as `sox speed` does."""
    return resample(audio, round(SAMPLE_RATE * factor), SAMPLE_RATE).astype(np.float32)


def sox_effects(audio: np.ndarray, effects: list[str]) -> np.ndarray:
    """Run a sox effect chain on a 16 kHz float clip (dither off: the same input, the same output)."""
    if not effects or len(audio) == 0:
        return audio
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is not installed (Debian package sox; `make setup` installs it as root)")
    raw = ["-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1"]
    result = subprocess.run(
        [sox, "-D", "-V1", *raw, "-", *raw, "-", *effects],
        input=np.ascontiguousarray(audio, dtype="<f4").tobytes(), capture_output=True, check=True,
    )
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def apply_augmentation(
    audio: np.ndarray, aug: Augmentation, rng: np.random.Generator, babble_sources: list[np.ndarray] | None = None
) -> np.ndarray:
    """The chain in its fixed order; `babble_sources` are other clips (babble falls back to pink
    noise without them). Peaks are kept inside [-1, 1] as a recording would clip them."""
    out = audio.astype(np.float32, copy=False)
    if aug.speed != 1.0:
        out = change_speed(out, aug.speed)
    effects = []
    if aug.pitch_cents:
        effects += ["pitch", str(aug.pitch_cents)]
    if aug.reverb:
        effects += ["reverb", str(aug.reverb), "50", str(aug.room_scale)]
    if aug.telephone:
        effects += ["sinc", "300-3400"]
    out = sox_effects(out, effects)
    if aug.reverb:  # sox reverb returns a longer, louder tail; keep the clip's level
        out = out * (np.sqrt(np.mean(audio.astype(np.float64) ** 2)) / (np.sqrt(np.mean(out.astype(np.float64) ** 2)) or 1.0))
    if aug.noise:
        if aug.noise == "babble" and babble_sources:
            noise = babble(len(out), babble_sources, rng)
        else:
            noise = colored_noise("pink" if aug.noise == "babble" else aug.noise, len(out), rng)
        out = mix_at_snr(out, noise, aug.snr_db)
    if aug.gain_db:
        out = out * 10 ** (aug.gain_db / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
