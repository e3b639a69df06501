"""Answer-level evaluation: scoring rules, and the whole turn on a tiny set with answers where a
scripted LLM gives a correct, a wrong (citing the wrong passage), an abstaining and an uncited
correct answer, so every figure of the report is known in advance."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rag_app.answer_eval import (SetKnowledgeBase, evaluate_answers, format_answer_report, is_abstention, is_correct,
                                 spread)
from rag_app.evaluate import TempIndex
from rag_app.pipeline import Pipeline
from rag_app.reply import ABSTAIN
from seal_model.data.eval_set import load_eval_set
from tests.conftest import TINY_PASSAGES, TINY_QUESTIONS

ANSWERS = {"q1": ["1887", "1889"], "q2": ["Everest", "Mount Everest"], "q3": ["Amazon"], "q4": ["sugar"]}
# question -> (reply, the passage whose number the reply cites or None)
SCRIPT = {
    "when was the eiffel tower built": ("The Eiffel Tower was built between 1887 and 1889 [n].", "p1"),  # correct
    "what is the highest mountain on earth": ("The Amazon river carries more water than any other river [n].", "p3"),  # wrong
    "which river carries the most water": ("I'm sorry, but I cannot answer that from these passages.", None),  # abstains
    "how do plants store energy from light": ("Plants store it as sugar.", None),  # correct, cites nothing
}


def test_answers_match_case_punctuation_and_word_boundaries():
    assert is_correct("It was built in 1889!", ["1887", "1889"])
    assert is_correct("the film was 13 HOURS: The Secret Soldiers.", ["13 Hours"])
    assert is_correct("Gallerie dell'Accademia, in Venice.", ["Gallerie dell'Accademia"])
    assert not is_correct("A Parisian cafe.", ["Paris"])
    assert not is_correct("anything", [])
    assert is_abstention(ABSTAIN) and is_abstention("the documents don't say") and not is_abstention("Paris.")
    assert spread(list(range(10)), 3) == [0, 3, 6] and spread([1, 2], 5) == [1, 2]


class _Seal:
    """Text -> one-hot by the tiny corpus's keywords: each question retrieves its gold passage first."""

    KEYS = ["eiffel", "mountain", "river", "plants"]
    device = "cpu"

    def embed_text(self, texts):
        out = np.full((len(texts), 4), 0.01, np.float32)
        for row, text in enumerate(texts):
            for col, key in enumerate(self.KEYS):
                out[row, col] += key in text.lower()
        return out


class _ScriptedLLM:
    name = "scripted"

    def stream(self, messages, max_new_tokens=256):
        reply, cites = SCRIPT[messages[-1]["content"]]
        numbers = dict(re.findall(r"^\[(\d+)\] (.{12})", messages[0]["content"], re.M))
        number = next((n for n, start in numbers.items() if cites and dict(TINY_PASSAGES)[cites].startswith(start)), None)
        reply = reply.replace("[n]", f"[{number}]" if number else "")
        for word in reply.split(" "):
            yield word + " "


@pytest.fixture()
def tiny_set(tmp_path):
    folder = tmp_path / "tiny"
    (folder / "audio").mkdir(parents=True)
    with open(folder / "passages.jsonl", "w") as fh:
        for pid, text in TINY_PASSAGES:
            fh.write(json.dumps({"id": pid, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for qid, text, gold in TINY_QUESTIONS:
            (folder / "audio" / f"{qid}.wav").write_bytes(b"RIFF")  # text mode never decodes it
            fh.write(json.dumps({"id": qid, "audio": f"audio/{qid}.wav", "text": text, "gold": [gold],
                                 "voice": "v", "answers": ANSWERS[qid]}) + "\n")
        fh.write(json.dumps({"id": "q5", "audio": "audio/q1.wav", "text": "x", "gold": ["p1"]}) + "\n")  # no answers: skipped
    return load_eval_set(folder)


def _pipeline(eval_set) -> Pipeline:
    seal = _Seal()
    index = TempIndex([p["id"] for p in eval_set.passages], seal.embed_text([p["text"] for p in eval_set.passages]))
    return Pipeline(seal, SetKnowledgeBase(index, eval_set.passages), _ScriptedLLM(), top_k=4)


def test_the_report_counts_correct_wrong_and_abstained_answers(tiny_set):
    report = evaluate_answers(tiny_set, _pipeline(tiny_set), ("text",), log=lambda _m: None)
    m = report.overall["text"]
    assert m["n"] == 4  # the query without answers is left out
    assert m["accuracy"] == 0.5 and m["abstention"] == 0.25
    assert m["cited"] == 0.5 and m["citation_correct"] == 0.5  # q1 cites its gold passage, q2 another one
    assert m["gold_in_passages"] == 1.0 and m["first_token_ms"]["p50_ms"] > 0 and m["words_mean"] > 0
    rows = {r["query_id"]: r for r in report.answers["text"]}
    assert rows["q1"]["correct"] and rows["q1"]["cited"] == ["p1"] and rows["q1"]["citation_correct"]
    assert not rows["q2"]["correct"] and not rows["q2"]["abstained"] and rows["q2"]["citation_correct"] is False
    assert rows["q3"]["abstained"] and rows["q3"]["answer"] == ABSTAIN
    assert rows["q4"]["correct"] and rows["q4"]["cited"] == [] and rows["q4"]["citation_correct"] is None
    assert report.by_group["voice=v"]["text"]["n"] == 4
    assert "overall" in format_answer_report(report)
    json.dumps(report.__dict__)  # the --json output


def test_with_the_gold_passage_hidden_a_made_up_answer_becomes_the_abstention(tiny_set):
    report = evaluate_answers(tiny_set, _pipeline(tiny_set), ("text",), without_gold=True, log=lambda _m: None)
    rows = {r["query_id"]: r for r in report.answers["text"]}
    assert all(not r["gold_in_passages"] for r in rows.values())
    # q1's reply names years no remaining passage mentions: the check turns it into the abstention
    assert rows["q1"]["abstained"] and not rows["q1"]["correct"]
    assert report.overall["text"]["accuracy"] <= 0.25 and report.overall["text"]["abstention"] >= 0.5


def test_eval_answers_command_runs_real_turns(tmp_path):
    """Smoke test with the real models (SEAL, Whisper's decoder, the embedded LLM) on two spoken
    questions: the command runs whole turns in two modes and writes the JSON report."""
    import soundfile as sf

    from seal_model.data.voices import synthesize
    from tests.cli_run import run_cli

    folder = tmp_path / "spoken"
    (folder / "audio").mkdir(parents=True)
    with open(folder / "passages.jsonl", "w") as fh:
        for pid, text in TINY_PASSAGES:
            fh.write(json.dumps({"id": pid, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for qid, text, gold in TINY_QUESTIONS[:2]:
            sf.write(folder / "audio" / f"{qid}.flac", synthesize("flite:slt", text), 16000)
            fh.write(json.dumps({"id": qid, "audio": f"audio/{qid}.flac", "text": text, "gold": [gold],
                                 "voice": "flite:slt", "answers": ANSWERS[qid]}) + "\n")
    out = tmp_path / "answers.json"
    result = run_cli("eval-answers", "--set", str(folder), "--modes", "seal,text", "--max-new-tokens", "40",
                     "--json", str(out), timeout=900)
    assert result.returncode == 0, result.err[-2000:]
    report = json.loads(out.read_text())
    assert set(report["overall"]) == {"seal", "text"} and report["question_text"] in ("whisper", "seal-reading")
    for mode in ("seal", "text"):
        assert report["overall"][mode]["n"] == 2
        for row in report["answers"][mode]:
            assert row["answer"] and row["first_token_ms"] > 0
    assert "acc" in result.stdout and "overall" in result.stdout
