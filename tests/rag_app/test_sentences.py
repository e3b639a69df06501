"""Sentence ends (rag_app.sentences): not inside a name."""
from __future__ import annotations

from rag_app.sentences import first_sentence, sentences


def test_the_question_is_kept_whole_through_titles_initials_and_dotted_names():
    assert first_sentence("What's the name of Mr. Bean's car? What's the name") == "What's the name of Mr. Bean's car?"
    assert first_sentence("In what year did Charles D. Smith die? In what") == "In what year did Charles D. Smith die?"
    assert first_sentence("Who won the U.S. Open in 2012. Who won") == "Who won the U.S. Open in 2012."
    assert first_sentence("What rock does the Rhine flow around near St. Goar?") == "What rock does the Rhine flow around near St. Goar?"
    assert first_sentence("Who sang it! who sang") == "Who sang it!"  # the decoder runs on in lower case too
    assert first_sentence("who played andy in toy story") == "who played andy in toy story"


def test_a_passage_splits_between_sentences_only():
    text = "The film stars Mr. T and Dr. Ruth. It was shot in St. Louis, e.g. downtown. It flopped!  Yes."
    assert sentences(text) == ["The film stars Mr. T and Dr. Ruth.", "It was shot in St. Louis, e.g. downtown.",
                               "It flopped!", "Yes."]
    assert sentences("  ") == []
