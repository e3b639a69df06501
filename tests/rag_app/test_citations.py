"""Citations: the LLM's own [n] markers, kept only where the passage supports the sentence; no guesses."""
from knowledge_base.store import Passage
from rag_app.citations import find_citations

PASSAGES = [
    Passage("a", "The Zorblax lighthouse on Kelpie Island is painted bright violet with white stripes.", 0.8, {}),
    Passage("b", "The ferry to the mainland leaves the harbour at noon every day.", 0.6, {}),
]


def test_markers_written_by_the_llm_are_kept_and_bounded():
    found = find_citations("It is violet [1], and the ferry leaves at noon [2] [7].", PASSAGES)
    assert found.numbers == [1, 2] and found.label() == "cites [1], [2]"
    assert find_citations("It is violet. [1]", PASSAGES).numbers == [1]  # a marker after the full stop


def test_a_marker_on_a_sentence_its_passage_does_not_support_is_dropped():
    found = find_citations("The lighthouse is violet [2]. The ferry leaves at noon [2].", PASSAGES)
    assert found.numbers == [2] and found.dropped == []
    found = find_citations("A made-up founder, Jonas Pickering, built it in 1802 [1].", PASSAGES)
    assert found.numbers == [] and found.dropped == [1] and found.label() == "no passage cited"


def test_an_answer_without_markers_cites_nothing_rather_than_a_guess():
    found = find_citations("The lighthouse on Kelpie Island is violet with white stripes.", PASSAGES)
    assert found.numbers == []


def test_an_unrelated_answer_cites_nothing():
    assert find_citations("I do not know.", PASSAGES).numbers == []
    assert find_citations("Bananas grow in tropical plantations worldwide.", PASSAGES).numbers == []
    assert find_citations("anything", []).numbers == []
