"""Evaluation sets built from hand-written questions: held-out voices only, test-split gold
only, every question heard clean in each voice plus a noisy and a fast clip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from seal_model.data.eval_set import WRITTEN_SETS, build_written_set, load_eval_set


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    passages = [
        ("t1", "Ljubljana is the capital of Slovenia and sits on the Ljubljanica river.", "test"),
        ("t2", "The Sagrada Familia in Barcelona was designed by Antoni Gaudi.", "test"),
        ("t3", "Mount Everest is the highest mountain above sea level.", "test"),
        ("r1", "The Amazon carries more water than any other river.", "train"),
    ]
    with open(folder / "passages.jsonl", "w") as fh:
        for pid, text, split in passages:
            fh.write(json.dumps({"id": pid, "text": text, "split": split, "source": "test"}) + "\n")
    return folder


def _questions(path: Path, gold: list[str]) -> Path:
    texts = ["what river runs through ljubljana", "who designed the sagrada familia", "which mountain is the highest"]
    with open(path, "w") as fh:
        for n, (text, pid) in enumerate(zip(texts, gold)):
            fh.write(json.dumps({"id": f"w{n}", "text": text, "gold": [pid], "answers": ["x"]}) + "\n")
    return path


def test_written_set_voices_conditions_and_answers(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    questions = _questions(tmp_path / "q.jsonl", ["t1", "t2", "t3"])
    out = build_written_set(corpus, tmp_path / "set", questions, voices=("flite:slt", "festival:slt"), kb_size=4,
                            log=lambda _m: None)
    loaded = load_eval_set(out)
    rows = [json.loads(line) for line in open(out / "queries.jsonl")]
    assert len(loaded.queries) == 3 * (2 + 2) and len(loaded.passages) == 4
    assert {r["condition"] for r in rows} == {"clean", "pink10", "babble10", "tempo1.15"}
    assert all(r["answers"] == ["x"] for r in rows)
    assert [r["id"].split("@")[0] for r in rows[:4]] == ["w0"] * 4  # question by question
    before = {p.name: p.read_bytes() for p in (out / "audio").iterdir()}
    build_written_set(corpus, out, questions, voices=("flite:slt", "festival:slt"), kb_size=4, log=lambda _m: None)
    assert {p.name: p.read_bytes() for p in (out / "audio").iterdir()} == before  # resumable, nothing redone


def test_written_set_refuses_training_voices_and_trained_passages(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    with pytest.raises(ValueError, match="held-out"):
        build_written_set(corpus, tmp_path / "a", _questions(tmp_path / "q.jsonl", ["t1", "t2", "t3"]),
                          voices=("flite:awb",), log=lambda _m: None)
    with pytest.raises(ValueError, match="test split"):
        build_written_set(corpus, tmp_path / "b", _questions(tmp_path / "q2.jsonl", ["t1", "r1", "t3"]),
                          voices=("flite:slt",), log=lambda _m: None)


def test_shipped_question_file_is_well_formed():
    rows = [json.loads(line) for line in open(WRITTEN_SETS / "ood-names.jsonl")]
    assert len(rows) >= 150 and len({r["id"] for r in rows}) == len(rows)
    assert len({r["gold"][0] for r in rows}) == len(rows)  # one question per passage
    named = [r for r in rows if any(w[:1].isupper() for w in r["text"].split()[1:])]
    assert len(named) >= 0.75 * len(rows)
    assert all(r["answers"] for r in rows)
