"""What the LLM reads of each passage (rag_app.focus): the sentences closest to the question,
within the `passage_chars` budget; the sources shown stay whole."""
from __future__ import annotations

import pytest

from knowledge_base.store import Passage
from rag_app.focus import GAP, focus, sentences
from rag_app.model_store import load_seal_model
from rag_app.pipeline import Pipeline

LONG = ("The Encore is a luxury resort on the Las Vegas Strip. It opened in December 2008. "
        "The tower has 2,034 rooms and suites. Encore is owned and operated by Wynn Resorts. "
        "Its nightclub, XS, opened in 2008 as well.")


def _passage(text: str, pid: str = "p1") -> Passage:
    return Passage(pid, text, 0.5, {"id": pid})


@pytest.fixture(scope="module")
def seal(settings):
    return load_seal_model(settings)


def test_sentences_split_at_sentence_ends_only():
    assert sentences(LONG)[:2] == ["The Encore is a luxury resort on the Las Vegas Strip.", "It opened in December 2008."]
    assert sentences("It has 2,034 rooms, e.g. suites.") == ["It has 2,034 rooms, e.g. suites."]


def test_a_long_passage_keeps_the_sentences_closest_to_the_question_in_order(seal):
    short = _passage("Wynn Resorts is a casino company.", "p2")
    kept = focus("who owns the encore hotel in las vegas?", [_passage(LONG), short], seal.embed_text, 120)
    assert kept[1] == short  # under the budget: read whole
    text = kept[0].text
    assert "owned and operated by Wynn Resorts" in text and len(text) <= 120
    assert "XS" not in text  # the nightclub is not what was asked
    parts = [s for s in text.split(GAP)]
    assert all(p in LONG for p in parts)  # whole sentences, in the passage's order
    assert [LONG.index(p) for p in parts] == sorted(LONG.index(p) for p in parts)
    assert focus("who owns the encore?", [_passage(LONG)], seal.embed_text, 0)[0].text == LONG  # 0: whole


def test_a_sentence_over_the_budget_alone_is_cut_to_it(seal):
    one = _passage("word " * 100)
    assert len(focus("a question", [one], seal.embed_text, 50)[0].text) == 50


class _PromptLLM:  # keeps the messages it was given
    name = "prompt"

    def __init__(self):
        self.messages = []

    def stream(self, messages, max_new_tokens=256):
        self.messages = messages
        yield "Wynn Resorts."

    def health(self):
        return "prompt"


class _KB:
    def search(self, vector, k):
        return [_passage(LONG)]


def test_the_llm_reads_the_focused_passage_and_the_sources_stay_whole(seal):
    llm = _PromptLLM()
    pipeline = Pipeline(seal, _KB(), llm, passage_chars=120)
    shown = [e.data for e in pipeline.answer(text="who owns the encore hotel in las vegas?", mode="text")
             if e.kind == "passages"]
    assert shown[0][0].text == LONG
    system = llm.messages[0]["content"]
    assert "owned and operated by Wynn Resorts" in system and "XS" not in system
