"""Replies made for voice: shown as written, kept and spoken as whole sentences, at most a few, no
loops, and the LLM stops once the reply has."""
from __future__ import annotations

import pytest

from rag_app.reply import ABSTENTION, Sentence, Shown, kept_reply, voice_reply


def _pieces(text: str, generated: list[str]):
    for word in text.split(" "):
        generated.append(word)
        yield word + " "


def _reply(text: str, max_sentences: int = 3, generated: list[str] | None = None) -> tuple[str, str]:
    """(what was shown, what the reply keeps)."""
    parts = list(voice_reply(_pieces(text, [] if generated is None else generated), max_sentences))
    return "".join(p.text for p in parts if isinstance(p, Shown)), kept_reply(parts)


def test_each_piece_is_shown_as_soon_as_the_llm_writes_it():
    """The page gets the first word one token after the prefill, not at the first sentence's end."""
    generated: list[str] = []
    parts = voice_reply(_pieces("It opened in 1889. It is iron.", generated), 3)
    first = next(parts)
    assert first == Shown("It ") and generated == ["It"]  # nothing more was asked of the LLM


def test_a_reply_cut_by_the_token_limit_stops_at_the_last_sentence_end():
    shown, kept = _reply("It opened in 1889. It is made of wrought iron and stands")
    assert kept.strip() == "It opened in 1889."
    assert shown.startswith("It opened in 1889. It is made")  # shown as written, then taken back by the kept reply


def test_a_looping_reply_stops_at_the_first_repeat_never_shows_it_and_the_llm_stops_generating():
    generated: list[str] = []
    shown, kept = _reply(" ".join(["The father of Finch is Finch."] * 40), generated=generated)
    assert kept.strip() == shown.strip() == "The father of Finch is Finch."
    assert len(generated) < 20  # generation was closed, not read to the end


def test_a_sentence_that_starts_like_an_earlier_one_is_held_only_until_it_differs():
    parts = list(voice_reply(_pieces("The cat sat. The car is red.", []), 3))
    shown = [p.text for p in parts if isinstance(p, Shown)]
    assert "The car " in shown and "The " not in shown[3:]  # "The ca" could have been "The cat sat." again
    assert kept_reply(parts).strip() == "The cat sat. The car is red."


def test_at_most_the_configured_sentences_and_citation_markers_stay_with_their_sentence():
    text = "It is in France. [1] It was built in 1889 [2]. It is 330 m tall. It is iron."
    sentences = [p.text.strip() for p in voice_reply(_pieces(text, []), 3) if isinstance(p, Sentence)]
    assert sentences == ["It is in France. [1]", "It was built in 1889 [2].", "It is 330 m tall."]


def test_an_unfinished_only_sentence_is_kept_and_zero_keeps_everything():
    assert _reply("Paris maybe")[1].strip() == "Paris maybe"
    shown, kept = _reply("a. a. b. c. d. e", 0)
    assert shown == "a. a. b. c. d. e " and kept == "a. a. b. c. d. e"
    assert ABSTENTION.endswith(".")


def test_an_llm_failing_mid_answer_keeps_what_it_wrote_by_the_same_rule():
    def failing():
        yield from ("It is iron. ", "It stands ")
        raise RuntimeError("server gone")

    parts: list = []
    with pytest.raises(RuntimeError):
        for part in voice_reply(failing(), 3):
            parts.append(part)
    assert kept_reply(parts).strip() == "It is iron."  # the unfinished second sentence is dropped
    parts = []
    with pytest.raises(RuntimeError):
        for part in voice_reply(failing(), 0):
            parts.append(part)
    assert kept_reply(parts) == "It is iron. It stands"


def test_a_first_clause_needs_its_words_and_a_real_break():
    from rag_app.reply import first_clause

    assert first_clause("Mount Everest, the highest mountain on Earth, lies") == "Mount Everest, the highest mountain on Earth,"
    assert first_clause("The tower has 2,034 rooms and suites") is None  # a digit group is no break
    assert first_clause("Yes, it is.") is None  # too few words before any break
    # only within the first sentence, whose end may come in the same piece as the next one's words
    assert first_clause("It is the one in Nepal. Mount Everest, the highest mountain, lies") is None
