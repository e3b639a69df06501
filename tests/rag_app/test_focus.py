"""What the LLM reads of each passage (rag_app.focus): its first whole sentences within the
`passage_chars` budget; the sources shown stay whole."""
from __future__ import annotations

from knowledge_base.store import Passage
from rag_app.focus import cut, focus, sentences
from rag_app.pipeline import Pipeline

LONG = ("The Encore is a luxury resort on the Las Vegas Strip. It is owned by Wynn Resorts. "
        "The tower has 2,034 rooms and suites. Its nightclub, XS, opened in 2008.")


def _passage(text: str, pid: str = "p1") -> Passage:
    return Passage(pid, text, 0.5, {"id": pid})


def test_sentences_split_at_sentence_ends_only():
    assert sentences(LONG)[:2] == ["The Encore is a luxury resort on the Las Vegas Strip.", "It is owned by Wynn Resorts."]
    assert sentences("It has 2,034 rooms, e.g. suites.") == ["It has 2,034 rooms, e.g. suites."]


def test_a_long_passage_is_cut_to_whole_sentences_within_the_budget():
    assert cut(LONG, 90) == "The Encore is a luxury resort on the Las Vegas Strip. It is owned by Wynn Resorts."
    assert cut(LONG, 60) == "The Encore is a luxury resort on the Las Vegas Strip."
    assert cut(LONG, 20) == "The Encore is a"  # a first sentence over the budget: at a word boundary
    assert cut(LONG, 0) == cut(LONG, 1000) == LONG
    short = _passage("Wynn Resorts is a casino company.", "p2")
    kept = focus([_passage(LONG), short], 90)
    assert kept[1] is short and kept[0].text.endswith("Wynn Resorts.") and kept[0].id == "p1"


class _PromptLLM:  # keeps the messages it was given
    name = "prompt"

    def __init__(self):
        self.messages = []

    def stream(self, messages, max_new_tokens=256):
        self.messages = messages
        yield "Wynn Resorts."

    def health(self):
        return "prompt"


class _Seal:
    def embed_text(self, texts):
        import numpy as np

        return np.ones((len(texts), 4), np.float32) / 2


class _KB:
    def search(self, vector, k):
        return [_passage(LONG)]


def test_the_llm_reads_the_cut_passage_and_the_sources_stay_whole():
    llm = _PromptLLM()
    pipeline = Pipeline(_Seal(), _KB(), llm, passage_chars=90)
    shown = [e.data for e in pipeline.answer(text="who owns the encore hotel in las vegas?", mode="text")
             if e.kind == "passages"]
    assert shown[0][0].text == LONG
    read = llm.messages[-1]["content"]  # the passages come with the question
    assert "owned by Wynn Resorts." in read and "XS" not in read
