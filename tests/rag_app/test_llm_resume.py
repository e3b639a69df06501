"""An answer cut by a dying replica is finished by the next one, without repeating what was shown."""
from __future__ import annotations

import pytest

from rag_app.llm import LLMError
from rag_app.llm_resume import ResumingLLM

ANSWER = ["The ", "lighthouse ", "is ", "green", "."]


class _Replicas:
    """Each call is the next replica: a list of tokens, cut with an LLMError after `cut` of them."""

    name = "smollm2"

    def __init__(self, *plans):
        self.plans, self.calls = list(plans), 0

    def stream(self, messages, max_new_tokens=256):
        tokens, cut = self.plans[self.calls]
        self.calls += 1
        yield from tokens[:cut]
        if cut < len(tokens):
            raise LLMError(f"the LLM server at replica {self.calls} stopped mid-answer (RemoteProtocolError)")


def test_a_cut_answer_is_resumed_where_the_user_left_it():
    inner = _Replicas((ANSWER, 2), (["The lighthouse ", "is gr", "een."], 3))  # other chunking, same text
    llm = ResumingLLM(inner, retries=1, backoff_s=0)
    pieces = list(llm.stream([{"role": "user", "content": "?"}]))
    assert "".join(pieces) == "The lighthouse is green." and pieces[:2] == ANSWER[:2]
    assert inner.calls == 2 and llm.resumed == 1 and llm.name == "smollm2"


def test_a_retry_that_says_something_else_ends_like_the_first_try():
    llm = ResumingLLM(_Replicas((ANSWER, 2), (["A ", "different ", "answer"], 3)), retries=1, backoff_s=0)
    shown = []
    with pytest.raises(LLMError, match="replica 1 stopped mid-answer"):
        for piece in llm.stream([]):
            shown.append(piece)
    assert shown == ANSWER[:2] and llm.resumed == 0


def test_retries_are_bounded_and_the_first_error_is_reported():
    inner = _Replicas((ANSWER, 0), (ANSWER, 0), (ANSWER, 5))
    with pytest.raises(LLMError, match="replica 1"):
        list(ResumingLLM(inner, retries=1, backoff_s=0).stream([]))
    assert inner.calls == 2
    assert list(ResumingLLM(_Replicas((ANSWER, 5)), retries=0).stream([])) == ANSWER
