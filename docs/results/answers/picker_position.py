"""How often a question's answer survives in what the LLM reads of its gold passage, by
`passage_focus`: `start` (the first whole sentences within the budget, `rag_app.focus.cut`) against
`question` (the first sentence, then the sentences sharing the question's words, `rag_app.focus.pick`).
Typed questions, counted once; no LLM involved. Also prints the prototype of stop 36, which weighted
the shared words by their rarity among the set's passages (inverse document frequency), to show the
plain count the app uses loses nothing.

    python docs/results/answers/picker_position.py 200 300 400
"""
from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

from rag_app.focus import content_words, cut, pick

sys.path.insert(0, str(Path(__file__).parent))
from answer_position import SETS, holds  # noqa: E402 - the sibling script's sets and answer test


def main(budgets: list[int]) -> None:
    root = Path.home() / ".cache/seal-rag/data/eval"
    for name, clips in SETS:
        passages = {p["id"]: p["text"] for p in map(json.loads, (root / name / "passages.jsonl").open())}
        counts = Counter(w for text in passages.values() for w in content_words(text))
        rarity = {w: math.log(len(passages) / (1 + n)) for w, n in counts.items()}
        queries = [json.loads(line) for line in (root / name / "queries.jsonl").open()][:clips]
        questions = {q["text"]: q for q in queries if q.get("answers")}
        readers = {"start": lambda t, q, b: cut(t, b), "question": lambda t, q, b: pick(t, q, b),
                   "question by rarity": lambda t, q, b: pick(t, q, b, rarity)}
        print(f"{name} ({len(questions)} questions): share whose answer is in what the LLM reads")
        for label, read in readers.items():
            shares = [sum(any(holds(read(passages[g], q["text"], budget), q["answers"]) for g in q["gold"] if g in passages)
                          for q in questions.values()) / len(questions) for budget in budgets]
            print(f"  {label:<20}" + "  ".join(f"{b}: {s:.2f}" for b, s in zip(budgets, shares)))


if __name__ == "__main__":
    main([int(b) for b in sys.argv[1:]] or [200, 300, 400])
