"""Citations: the LLM's own [n] markers first, word-overlap attribution otherwise, none for a non-answer."""
from knowledge_base.store import Passage
from rag_app.citations import find_citations

PASSAGES = [
    Passage("a", "The Zorblax lighthouse on Kelpie Island is painted bright violet with white stripes.", 0.8, {}),
    Passage("b", "The ferry to the mainland leaves the harbour at noon every day.", 0.6, {}),
]


def test_markers_written_by_the_llm_are_kept_and_bounded():
    found = find_citations("It is violet [1], and the ferry leaves at noon [2] [7].", PASSAGES)
    assert found.numbers == [1, 2] and found.method == "marker"


def test_an_answer_without_markers_is_attributed_by_overlap():
    found = find_citations("The lighthouse on Kelpie Island is violet with white stripes.", PASSAGES)
    assert found.numbers == [1] and found.method == "overlap"
    assert "attributed" in found.label()


def test_an_unrelated_answer_cites_nothing():
    assert find_citations("I do not know.", PASSAGES).numbers == []
    assert find_citations("Bananas grow in tropical plantations worldwide.", PASSAGES).numbers == []
    assert find_citations("anything", []).numbers == []
