"""Our transformers-only text encoder must reproduce sentence-transformers on the same folder."""
import numpy as np

from rag_app.model_store import resolve_model_dir
from seal_model.text_encoder import TextEncoder

TEXTS = [
    "What is the capital city of France?",
    "Paris is the capital and most populous city of France.",
    "A short one.",
    "Photosynthesis converts light energy into chemical energy stored in glucose, " * 20,
]


def test_matches_sentence_transformers(settings):
    from sentence_transformers import SentenceTransformer

    folder = resolve_model_dir(settings, "text_encoder")
    expected = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    actual = TextEncoder(folder).encode(TEXTS, batch_size=3)
    assert actual.shape == (4, 384) and actual.dtype == np.float32
    assert np.abs(actual - expected).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-5)
    # Semantics sanity: the question is closer to its answer than to an unrelated sentence.
    assert actual[0] @ actual[1] > actual[0] @ actual[2]
