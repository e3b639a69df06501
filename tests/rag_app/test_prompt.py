"""The prompt numbers passages for citation, keeps only the last turns, and keeps its start stable."""
from knowledge_base.store import Passage
from rag_app.prompt import build_messages, recent_turns

PASSAGES = [Passage("a", "Paris is the capital of France.", 0.9, {}), Passage("b", "Lyon is a city.", 0.5, {})]


def test_passages_are_numbered_and_come_with_the_question_after_the_history():
    history = [(f"question {n}", f"answer {n}") for n in range(4)]
    messages = build_messages("what is the capital?", PASSAGES, history, max_turns=3)
    assert messages[0]["role"] == "system" and "Paris" not in messages[0]["content"]
    assert [m["content"] for m in messages[1:-1]] == ["question 2", "answer 2", "question 3", "answer 3"]
    last = messages[-1]
    assert last["role"] == "user" and "[1] Paris is the capital of France." in last["content"] and "[2] Lyon" in last["content"]
    assert last["content"].endswith("Question: what is the capital?")


def test_the_history_window_moves_in_steps_so_consecutive_prompts_share_their_start():
    history = [(f"question {n}", f"answer {n}") for n in range(12)]
    kept = [recent_turns(history[:n], 3) for n in range(13)]
    assert all(len(k) <= 3 for k in kept) and all(len(k) >= 2 for k in kept[2:])
    assert all(k == history[n - len(k):n] for n, k in enumerate(kept))  # always the most recent turns
    # from one turn to the next, the earlier prompt's history is the start of the next one's at least
    # every other turn (a sliding window would change the start at every turn once full)
    shared = [kept[n + 1][: len(kept[n])] == kept[n] for n in range(3, 12)]
    assert sum(shared) >= len(shared) // 2
    first = build_messages("q?", PASSAGES, history[:4])
    second = build_messages("another q?", [PASSAGES[1]], history[:5])
    assert second[: len(first) - 1] == first[:-1]  # everything before the new passages is the same
    assert recent_turns(history, 0) == [] and recent_turns(history, 1) == history[-1:]


def test_a_new_session_starts_empty():
    messages = build_messages("hello?", [], None)
    assert len(messages) == 2 and "(no passages found)" in messages[-1]["content"]
