"""What the LLM reads of each passage (rag_app.focus): its first whole sentences within the
`passage_chars` budget; the sources shown stay whole."""
from __future__ import annotations

from knowledge_base.store import Passage
from rag_app.focus import cut, focus, pick, sentences
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


def test_the_question_focus_keeps_the_first_sentence_and_those_sharing_the_question_words():
    # 90 characters: the first sentence (53) and one more fit; the nightclub's sentence shares "nightclub" and "opened"
    assert pick(LONG, "When was the nightclub XS opened?", 90) == (
        "The Encore is a luxury resort on the Las Vegas Strip. Its nightclub, XS, opened in 2008.")
    assert cut(LONG, 90).endswith("Wynn Resorts.")  # the cut from the start would have lost it
    # kept in the passage's order, best-sharing first while they fit; a sentence sharing nothing is left out
    assert pick(LONG, "How many rooms are in the tower where XS opened?", 150) == (
        "The Encore is a luxury resort on the Las Vegas Strip. The tower has 2,034 rooms and suites. "
        "Its nightclub, XS, opened in 2008.")
    # nothing to go by (no content words) or a first sentence over the budget: the cut from the start
    assert pick(LONG, "Who is it?", 90) == cut(LONG, 90)
    assert pick(LONG, "nightclub", 20) == cut(LONG, 20)
    assert pick(LONG, "nightclub", 0) == LONG


def test_the_pipeline_reads_the_sentences_its_focus_picks():
    llm = _PromptLLM()
    pipeline = Pipeline(_Seal(), _KB(), llm, passage_chars=90, passage_focus="question")
    list(pipeline.answer(text="when did the nightclub xs open?", mode="text"))
    read = llm.messages[-1]["content"]
    assert "opened in 2008." in read and "Wynn Resorts" not in read
