"""Spoken replies: whole sentences, at most a few, no loops, and the LLM stops once the reply has."""
from __future__ import annotations

from rag_app.reply import ABSTENTION, voice_reply


def _pieces(text: str, generated: list[str]):
    for word in text.split(" "):
        generated.append(word)
        yield word + " "


def test_a_reply_cut_by_the_token_limit_stops_at_the_last_sentence_end():
    reply = "".join(voice_reply(_pieces("It opened in 1889. It is made of wrought iron and stands", []), 3))
    assert reply.strip() == "It opened in 1889."


def test_a_looping_reply_stops_at_the_first_repeat_and_the_llm_stops_generating():
    generated: list[str] = []
    loop = " ".join(["The father of Finch is Finch."] * 40)
    reply = "".join(voice_reply(_pieces(loop, generated), 3))
    assert reply.strip() == "The father of Finch is Finch."
    assert len(generated) < 20  # generation was closed, not read to the end


def test_at_most_the_configured_sentences_and_citation_markers_stay_with_their_sentence():
    text = "It is in France. [1] It was built in 1889 [2]. It is 330 m tall. It is iron."
    sentences = list(voice_reply(_pieces(text, []), 3))
    assert [s.strip() for s in sentences] == ["It is in France. [1]", "It was built in 1889 [2].", "It is 330 m tall."]


def test_an_unfinished_only_sentence_is_kept_and_zero_passes_pieces_through():
    assert "".join(voice_reply(_pieces("Paris maybe", []), 3)).strip() == "Paris maybe"
    assert "".join(voice_reply(_pieces("a. b. c. d. e", []), 0)) == "a. b. c. d. e "
    assert ABSTENTION.endswith(".")
