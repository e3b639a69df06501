"""The prompt numbers passages for citation and keeps only the last turns."""
from knowledge_base.store import Passage
from rag_app.prompt import build_messages


def test_passages_are_numbered_and_history_is_bounded():
    passages = [Passage("a", "Paris is the capital of France.", 0.9, {}), Passage("b", "Lyon is a city.", 0.5, {})]
    history = [(f"question {n}", f"answer {n}") for n in range(5)]
    messages = build_messages("what is the capital?", passages, history, max_turns=2)
    assert messages[0]["role"] == "system"
    assert "[1] Paris is the capital of France." in messages[0]["content"] and "[2] Lyon" in messages[0]["content"]
    assert [m["content"] for m in messages[1:-1]] == ["question 3", "answer 3", "question 4", "answer 4"]
    assert messages[-1] == {"role": "user", "content": "what is the capital?"}


def test_a_new_session_starts_empty():
    messages = build_messages("hello?", [], None)
    assert len(messages) == 2 and "(no passages found)" in messages[0]["content"]
