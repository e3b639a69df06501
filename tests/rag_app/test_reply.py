"""Replies made for voice: whole sentences (at most three), stopped at a sentence end, the plain
abstention for what the passages do not support, and no citation the passage does not back.
A fake LLM stream makes every case deterministic."""
from __future__ import annotations

import numpy as np
import torch

from knowledge_base.store import Passage
from rag_app.citations import find_citations
from rag_app.llm import _NoRepeatInAnswer
from rag_app.pipeline import Pipeline
from rag_app.reply import ABSTAIN, VoiceReply, split_sentences

PASSAGES = [
    Passage("a", "The Zorblax lighthouse on Kelpie Island was built in 1887 by Ada Munro. It is painted violet.", 0.8, {}),
    Passage("b", "The ferry to the mainland leaves the harbour at noon every day.", 0.6, {}),
]
QUESTION = "who built the zorblax lighthouse?"


class _Stream:
    """An LLM stream of word pieces that records whether the consumer closed it early."""

    def __init__(self, text: str):
        self.pieces = [w + " " for w in text.split(" ")]
        self.pieces[-1] = self.pieces[-1].rstrip()
        self.consumed, self.closed = 0, False

    def __iter__(self):
        try:
            for piece in self.pieces:
                self.consumed += 1
                yield piece
        finally:
            self.closed = True


def _shape(text: str, passages=PASSAGES, question=QUESTION) -> tuple[str, VoiceReply, _Stream]:
    stream = _Stream(text)
    reply = VoiceReply(question, passages)
    return "".join(reply.shape(iter(stream))), reply, stream


def test_the_reply_stops_after_the_third_sentence_and_closes_the_stream():
    text, reply, stream = _shape("Ada Munro built it in 1887 [1]. It is painted violet [1]. It is on Kelpie Island. "
                                 "The ferry leaves at noon. The ferry leaves the harbour every day.")
    assert text == "Ada Munro built it in 1887 [1]. It is painted violet [1]. It is on Kelpie Island. "
    assert stream.closed and stream.consumed < len(stream.pieces)  # generation stopped, not read to the end
    assert not reply.abstained


def test_an_answer_cut_by_the_token_limit_is_trimmed_to_its_last_sentence_end():
    text, reply, _ = _shape("Ada Munro built the lighthouse in 1887. It was painted by the")
    assert text == "Ada Munro built the lighthouse in 1887. " and reply.trimmed


def test_a_fragment_with_no_sentence_end_is_all_there_is():
    text, _, _ = _shape("Ada Munro in 1887")
    assert text == "Ada Munro in 1887"


def test_sentence_ends_skip_abbreviations_initials_and_lower_case_continuations():
    sentences, rest = split_sentences("Dr. A. Munro built it in 1887. e.g. the tower. It is violet. It", final=False)
    assert sentences == ["Dr. A. Munro built it in 1887. e.g. the tower. ", "It is violet. "] and rest == "It"
    sentences, rest = split_sentences("It was built in 1887. [1] It is violet [1].", final=True)
    assert sentences == ["It was built in 1887. [1] ", "It is violet [1]."] and rest == ""


def test_non_answers_and_invented_facts_become_the_plain_abstention():
    for answer in ("I'm sorry, but the passages do not mention who built it.",
                   "The documents don't say.",
                   "The lighthouse was built by David B. Benson in 1952 [1]. He was an architect."):
        text, reply, stream = _shape(answer)
        assert text == ABSTAIN and reply.abstained, answer
        assert stream.closed


def test_no_passages_means_the_abstention_without_asking_the_llm():
    stream = _Stream("Ada Munro built it.")
    reply = VoiceReply(QUESTION, [])
    assert "".join(reply.shape(iter(stream))) == ABSTAIN and stream.consumed == 0


def test_a_later_unsupported_sentence_ends_the_reply_before_it():
    text, reply, _ = _shape("Ada Munro built it in 1887 [1]. She later moved to Brazil with Pedro Alvarez.")
    assert text == "Ada Munro built it in 1887 [1]. " and reply.trimmed and not reply.abstained


def test_markers_stay_only_where_the_passage_supports_the_sentence():
    text, _, _ = _shape("Ada Munro built it in 1887 [2]. It is painted violet [1].")
    assert text == "Ada Munro built it in 1887. It is painted violet [1]."
    assert find_citations(text, PASSAGES, QUESTION).numbers == [1]


def test_no_citation_is_invented():
    # no markers: nothing is cited, however many words the answer shares with a passage
    assert find_citations("Ada Munro built the Zorblax lighthouse in 1887.", PASSAGES, QUESTION).numbers == []
    # a marker on a sentence its passage does not back, or out of range, is dropped
    assert find_citations("The ferry was built by Ada Munro in 1887 [2] [7].", PASSAGES, QUESTION).numbers == []
    assert find_citations("The ferry leaves at noon [2].", PASSAGES, QUESTION).numbers == [2]
    assert find_citations(ABSTAIN, PASSAGES, QUESTION).label() == "no passage cited"


def test_no_repeated_ngram_within_the_answer_but_the_prompt_may_be_copied():
    processor = _NoRepeatInAnswer(3, prompt_length=3)
    ids = torch.tensor([[7, 8, 9, 7, 8, 9, 7, 8]])  # prompt 7 8 9; the answer "7 8 9 7 8" must not go on with 9
    scores = processor(ids, torch.zeros(1, 12))
    assert scores[0, 9] == -float("inf") and torch.isfinite(scores[0, [0, 1, 7, 8, 10]]).all()
    fresh = processor(torch.tensor([[7, 8, 9, 7, 8]]), torch.zeros(1, 12))  # "7 8" then 9 is in the prompt only
    assert torch.isfinite(fresh).all()


class _Seal:
    def embed_text(self, texts):
        return np.zeros((len(texts), 4), np.float32)


class _KB:
    def __init__(self, passages):
        self.passages = passages

    def search(self, vector, k):
        return self.passages[:k]


class _FakeLLM:
    name = "fake"

    def __init__(self, text: str):
        self.text = text

    def stream(self, messages, max_new_tokens=256):
        yield from _Stream(self.text)


def _turn(llm, passages=PASSAGES, question=QUESTION) -> dict:
    events: dict = {"token": []}
    for event in Pipeline(_Seal(), _KB(passages), llm).answer(text=question, mode="text"):
        events["token"].append(event.data) if event.kind == "token" else events.__setitem__(event.kind, event.data)
    events["answer"] = "".join(events["token"])
    return events


def test_a_turn_answers_in_whole_sentences_and_cites_only_supported_markers():
    events = _turn(_FakeLLM("Ada Munro built it in 1887 [1]. It is violet [1]. It is tall. It is old. It is"))
    assert events["answer"] == "Ada Munro built it in 1887 [1]. It is violet [1]. "
    assert events["citations"].numbers == [1]
    trace = events["trace"]
    assert not trace.abstained and trace.llm_first_token_ms <= trace.first_token_ms <= trace.total_ms


def test_an_unsupported_question_gets_the_abstention():
    unrelated = [Passage("c", "Bananas grow on large herbaceous plants in the tropics.", 0.2, {})]
    events = _turn(_FakeLLM("The Zorblax lighthouse was built by Captain Harold Finch in 1902."), unrelated)
    assert events["answer"] == ABSTAIN and events["trace"].abstained
    assert events["citations"].numbers == []
