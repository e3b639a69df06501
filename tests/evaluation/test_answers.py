"""Answer-level evaluation: whole turns scored for correct, wrong and abstained replies, citations,
and the without-gold condition in which abstaining is the right reply."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.answers import abstained, answer_correct, evaluate_answers, format_answers
from rag_app.pipeline import Pipeline
from seal_model.data.eval_set import load_eval_set

KEYWORDS = ("paris", "everest", "amazon")


class _Seal:
    """Embeds text as its keyword counts, so retrieval is exact and known in advance."""

    text_fingerprint, device = "fake", "cpu"

    def embed_text(self, texts):
        rows = [[text.lower().count(k) + 1e-3 for k in KEYWORDS] for text in texts]
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class _LLM:
    """Replies like a small model would: right for Paris, wrong for Everest, abstains for the
    Amazon, and abstains whenever the passage that holds the answer is not in its prompt."""

    name = "scripted"

    def stream(self, messages, max_new_tokens=256):
        prompt = messages[-1]["content"]  # the passages and, after them, the question
        question = prompt.rsplit("Question:", 1)[-1].lower()
        if "paris" in question:
            reply = "It is in France [1]." if "France" in prompt else "The documents don't say."
        elif "everest" in question:
            reply = "It is in the Alps [1]."
        else:
            reply = "I don't know."
        for word in reply.split(" "):
            yield word + " "

    def health(self):
        return "scripted"


def _set(folder):
    folder.mkdir()
    passages = [{"id": "p1", "text": "Paris is the capital of France."},
                {"id": "p2", "text": "Everest lies in the Himalayas."},
                {"id": "p3", "text": "The Amazon flows through Brazil."}]
    queries = [{"id": "q1", "audio": "a.wav", "gold": ["p1"], "text": "Where is Paris?", "answers": ["France"]},
               {"id": "q2", "audio": "a.wav", "gold": ["p2"], "text": "Where is Everest?", "answers": ["Himalayas"]},
               {"id": "q3", "audio": "a.wav", "gold": ["p3"], "text": "Where does the Amazon flow?",
                "answers": ["Brazil"]},
               {"id": "q4", "audio": "a.wav", "gold": ["p3"], "text": "no key"}]  # no answers: skipped
    (folder / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "a.wav").write_bytes(b"RIFF")
    return load_eval_set(folder)


def test_correct_wrong_and_abstained_replies_are_counted(tmp_path):
    pipeline = Pipeline(_Seal(), None, _LLM(), top_k=1)
    report = evaluate_answers(_set(tmp_path / "s"), pipeline, ("text",), log=lambda _m: None)
    overall = report.overall["text"]
    assert overall["n"] == 3  # the query without answers is not scored
    assert overall["accuracy"] == pytest.approx(1 / 3) and overall["abstention"] == pytest.approx(1 / 3)
    assert overall["gold_retrieved"] == 1.0
    assert overall["citation_correct"] == 1.0  # both replies that cite, cite [1] = the gold passage
    by_id = {r["query_id"]: r for r in report.results}
    assert by_id["q1"]["correct"] and not by_id["q2"]["correct"] and by_id["q3"]["abstained"]
    assert "accuracy" in format_answers(report)


def test_without_gold_the_right_reply_is_to_abstain(tmp_path):
    pipeline = Pipeline(_Seal(), None, _LLM(), top_k=1)
    report = evaluate_answers(_set(tmp_path / "s"), pipeline, ("text",), without_gold=True, log=lambda _m: None)
    by_id = {r["query_id"]: r for r in report.results}
    assert not by_id["q1"]["gold_retrieved"] and by_id["q1"]["abstained"] and not by_id["q1"]["correct"]
    assert report.overall["text"]["gold_retrieved"] == 0.0


def test_answer_matching_ignores_case_accents_and_punctuation_but_wants_whole_words():
    assert answer_correct("The towns are Gaissau, Hochst and Fussach.", ["Gaißau"])
    assert answer_correct("It was released as '13 HOURS'!", ["13 Hours"])
    assert not answer_correct("In 1913 hours later", ["13 Hours"])
    assert not answer_correct("anything", [])
    assert abstained("The documents don't say.") and abstained("I do not know.") and abstained("")
    assert not abstained("It is in France.")


def test_an_unsupported_question_gets_the_plain_abstention_through_the_pipeline(tmp_path):
    """The prompt tells the LLM the abstention wording; the pipeline's reply shaper keeps it whole."""
    from rag_app.reply import ABSTENTION

    class _Obedient(_LLM):
        def stream(self, messages, max_new_tokens=256):
            assert ABSTENTION in messages[0]["content"]  # the instruction reached the model
            for word in f"{ABSTENTION} {ABSTENTION} The passages are about".split(" "):
                yield word + " "

    pipeline = Pipeline(_Seal(), None, _Obedient(), top_k=1, reply_sentences=3)
    report = evaluate_answers(_set(tmp_path / "s"), pipeline, ("text",), without_gold=True, log=lambda _m: None)
    assert all(r["reply"] == ABSTENTION and r["abstained"] for r in report.results)
    assert report.overall["text"]["abstention"] == 1.0
