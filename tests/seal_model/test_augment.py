"""Training augmentation: deterministic per seed and clip, and each effect does what it says."""
from __future__ import annotations

import numpy as np

from seal_model.data.augment import (
    Augmentation, apply_augmentation, clip_rng, colored_noise, draw_augmentation, mix_at_snr,
)
from seal_model.voices import synthesize

CLIP = synthesize("flite:awb", "who designed the sagrada familia in barcelona")
OTHER = synthesize("espeak:en-us+m3:150", "a second speaker talks in the same room")
EVERYTHING = Augmentation(speed=1.1, pitch_cents=200, reverb=50, telephone=True, noise="babble", snr_db=10, gain_db=-6)


def test_same_seed_and_key_same_audio_other_seed_other_audio():
    first = apply_augmentation(CLIP, EVERYTHING, clip_rng("q1", seed=3), [OTHER])
    again = apply_augmentation(CLIP, EVERYTHING, clip_rng("q1", seed=3), [OTHER])
    np.testing.assert_array_equal(first, again)
    other_seed = apply_augmentation(CLIP, EVERYTHING, clip_rng("q1", seed=4), [OTHER])
    assert not np.array_equal(first, other_seed)
    assert draw_augmentation(clip_rng("q7", 0)) == draw_augmentation(clip_rng("q7", 0))
    drawn = {draw_augmentation(clip_rng(f"q{n}", 0)).describe() for n in range(200)}
    assert "clean" in drawn and len(drawn) > 100  # a quarter clean, the rest varied


def test_effects():
    assert apply_augmentation(CLIP, Augmentation(), clip_rng("x")) is not None
    np.testing.assert_array_equal(apply_augmentation(CLIP, Augmentation(), clip_rng("x")), np.clip(CLIP, -1, 1))
    faster = apply_augmentation(CLIP, Augmentation(speed=1.25), clip_rng("x"))
    assert abs(len(faster) - len(CLIP) / 1.25) < 16
    noisy = apply_augmentation(CLIP, Augmentation(noise="pink", snr_db=10), clip_rng("x"))
    noise = noisy - CLIP
    snr = 10 * np.log10(np.mean(CLIP.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert abs(snr - 10) < 0.5
    phone = apply_augmentation(CLIP, Augmentation(telephone=True), clip_rng("x"))
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(len(phone), 1 / 16000)
    assert spectrum[freqs > 4500].sum() < 0.01 * spectrum.sum()
    quiet = apply_augmentation(CLIP, Augmentation(gain_db=-20), clip_rng("x"))
    assert abs(np.abs(quiet).max() / np.abs(CLIP).max() - 0.1) < 0.01


def test_noise_colours():
    rng = np.random.default_rng(0)
    for kind in ("white", "pink", "brown"):
        noise = colored_noise(kind, 16000, rng)
        assert abs(np.mean(noise.astype(np.float64) ** 2) - 1) < 1e-3
    pink = np.abs(np.fft.rfft(colored_noise("pink", 16000, rng))) ** 2
    assert pink[10:100].mean() > 10 * pink[5000:8000].mean()  # power falls with frequency
    assert len(mix_at_snr(CLIP, colored_noise("white", len(CLIP), rng), 5)) == len(CLIP)
