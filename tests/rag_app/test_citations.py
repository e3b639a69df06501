"""Citations: the LLM's own [n] markers, each kept only where its passage backs its claim;
nothing is attributed by guessing (rag_app.reply's tests cover the streamed reply)."""
from knowledge_base.store import Passage
from rag_app.citations import find_citations, supports

PASSAGES = [
    Passage("a", "The Zorblax lighthouse on Kelpie Island is painted bright violet with white stripes.", 0.8, {}),
    Passage("b", "The ferry to the mainland leaves the harbour at noon every day.", 0.6, {}),
]


def test_markers_are_checked_claim_by_claim_and_bounded():
    found = find_citations("It is violet [1], and the ferry leaves at noon [2] [7].", PASSAGES)
    assert found.numbers == [1, 2] and found.method == "marker"
    assert find_citations("It is violet [2], and the ferry leaves at noon [1].", PASSAGES).numbers == []


def test_an_answer_without_markers_cites_nothing():
    found = find_citations("The lighthouse on Kelpie Island is violet with white stripes.", PASSAGES)
    assert found.numbers == [] and found.label() == "no passage cited"


def test_an_unrelated_answer_cites_nothing():
    assert find_citations("I do not know [1].", PASSAGES).numbers == []
    assert find_citations("Bananas grow in tropical plantations worldwide [1].", PASSAGES).numbers == []
    assert find_citations("anything [1]", []).numbers == []


def test_support_counts_only_what_the_sentence_adds_to_the_question():
    question = "what colour is the zorblax lighthouse?"
    assert supports("The Zorblax lighthouse is painted violet.", PASSAGES, question)
    assert not supports("The Zorblax lighthouse is green.", PASSAGES, question)  # the one new word is made up
    assert not supports("The Zorblax lighthouse.", PASSAGES, question)  # adds nothing
