"""Synthesized speech is a function of (voice, text): tests and evaluation sets rebuilt later
hear the same audio."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from seal_model.voices import synthesize


@pytest.mark.parametrize("voice", ["piper:joe", "flite:slt", "espeak:en-us+m3:150"])
def test_same_text_same_clip(voice):
    text = "who is the director of the fbi in washington dc?"
    first = synthesize(voice, text)
    assert first.dtype == np.float32 and len(first) > 16000 * 0.5 and np.abs(first).max() > 0.05
    np.testing.assert_array_equal(synthesize(voice, text), first)


def test_piper_clips_stay_fixed_when_users_ask_at_once():
    texts = ["what do bees make", "who wrote hamlet", "what do bees make", "who wrote hamlet"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        clips = list(pool.map(lambda t: synthesize("piper:joe", t), texts))
    np.testing.assert_array_equal(clips[0], clips[2])
    np.testing.assert_array_equal(clips[1], clips[3])
    assert len(clips[0]) != len(clips[1])
