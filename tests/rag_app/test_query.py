"""The query side's fused mode: SEAL's vector and its own reading's text vector, weighted equally."""
from __future__ import annotations

import numpy as np

from rag_app.query import QuerySide


class _Seal:
    """A speech vector along x (length 3) and, for the reading it returns, a text vector along y (length 0.5)."""

    def embed_and_read_speech(self, clips):
        return np.array([[3.0, 0.0, 0.0]], np.float32), ["the ferry leaves at noon"]

    def embed_text(self, texts):
        assert texts == ["the ferry leaves at noon"]  # the reading of the same pass, not a transcript
        return np.array([[0.0, 0.5, 0.0]], np.float32)


def test_fused_vector_weighs_speech_and_reading_equally_whatever_their_lengths():
    vector, reading = QuerySide(_Seal()).embed_speech_and_reading(np.zeros(16000, np.float32))
    assert reading == "the ferry leaves at noon"
    assert np.isclose(np.linalg.norm(vector), 1.0)
    assert np.allclose(vector, [2 ** -0.5, 2 ** -0.5, 0.0], atol=1e-6)  # halfway between the two directions
