"""Reading the bigbench sdist: questions keep their task's answers as answer keys (issue 18)."""
from __future__ import annotations

import io
import json
import tarfile

from seal_model.data.bigbench import TASKS, build_corpus, read_bigbench
from seal_model.jsonl import read_jsonl

TASK_EXAMPLES = {
    "contextual_parametric_knowledge_conflicts": [  # the target is the swapped-in name; score 0 marks the original
        {"input": "\nQuestion: who is joseph paine in mr smith goes to washington?\nContext: Chalino Sánchez as Senator Joseph Paine",
         "target": "Chalino Sánchez", "target_scores": {"Chalino Sánchez": 1, "Claude Rains": 0}},
    ],
    "disfl_qa": [
        {"input": "What do petrologists use rock samples or rather electron microprobes for ?  \ncontext: Petrologists identify rock samples .",
         "target": "identifying rocks"},
        {"input": "Who wrote the no the unanswerable one ?  \ncontext: Nobody wrote it down .", "target": ""},
    ],
    "vitaminc_fact_verification": [{"input": "Lighthouse: The lighthouse on the island is red and white .\nClaim: x"}],
}


def _sdist(path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, examples in TASK_EXAMPLES.items():
            data = json.dumps({"examples": examples}).encode()
            info = tarfile.TarInfo(TASKS.format(name))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_questions_carry_their_task_answers(tmp_path):
    _sdist(tmp_path / "bigbench.tar.gz")
    passages, questions = read_bigbench(tmp_path / "bigbench.tar.gz")
    by_text = {q.text: q for q in questions}
    nq = by_text["who is joseph paine in mr smith goes to washington?"]
    assert nq.answers == ["Claude Rains"]  # the original answer, not the swapped-in one
    assert "Claude Rains" in next(p.text for p in passages if p.id == nq.gold[0])  # the swap is undone in the passage too
    assert by_text["What do petrologists use rock samples or rather electron microprobes for?"].answers == ["identifying rocks"]
    assert by_text["Who wrote the no the unanswerable one?"].answers == []  # no target, no key


def test_a_corpus_made_before_answer_keys_is_rebuilt(tmp_path):
    raw, corpus = tmp_path / "raw", tmp_path / "corpus"
    raw.mkdir()
    _sdist(raw / "bigbench-1.0.0.tar.gz")
    corpus.mkdir()
    (corpus / "passages.jsonl").write_text(json.dumps({"id": "p", "text": "old"}) + "\n")
    (corpus / "questions.jsonl").write_text(json.dumps({"id": "q", "text": "old", "gold": ["p"]}) + "\n")
    build_corpus(raw, corpus)
    rows = read_jsonl(corpus / "questions.jsonl")
    assert len(rows) == 3 and all("answers" in row for row in rows)
