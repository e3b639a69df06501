"""How often a question's answer survives the cut of its gold passage to `passage_chars` (the LLM
reads only the first whole sentences within the budget): per eval set, questions counted once.

    python docs/results/answers/answer_position.py 200 300 400     # ood-names (first 300 clips), heldout-nq (first 300), the tuning splits
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from evaluation.answers import normalise
from rag_app.focus import cut

SETS = (("ood-names", 300), ("ood-names-tune", None), ("heldout-nq", 300), ("heldout-nq-tune", None))


def holds(text: str, answers: list[str]) -> bool:
    padded = f" {normalise(text)} "
    return any(f" {normalise(a)} " in padded for a in answers)


def main(budgets: list[int]) -> None:
    root = Path.home() / ".cache/seal-rag/data/eval"
    for name, clips in SETS:
        passages = {p["id"]: p["text"] for p in map(json.loads, (root / name / "passages.jsonl").open())}
        queries = [json.loads(line) for line in (root / name / "queries.jsonl").open()][:clips]
        questions = {q["text"]: q for q in queries if q.get("answers")}
        found = {budget: 0 for budget in [0, *budgets]}
        for q in questions.values():
            gold = [passages[g] for g in q["gold"] if g in passages]
            for budget in found:
                found[budget] += any(holds(cut(text, budget), q["answers"]) for text in gold)
        n = len(questions)
        shares = ", ".join(f"first {b} characters {found[b] / n:.2f}" for b in budgets)
        print(f"{name:<16} {n:>4} questions: answer in the gold passage {found[0] / n:.2f}; {shares}")


if __name__ == "__main__":
    main([int(b) for b in sys.argv[1:]] or [200, 300, 400])
