"""A prototype, not in the app: pick what the LLM reads of a passage by word overlap with the question
(the passage's first sentence, then the sentences sharing the question's rarer words, best first,
within the budget, in the passage's order) instead of cutting it from the start. How often does the
question's answer survive? Compare with `answer_position.py` (the cut from the start).

    python docs/results/answers/picker_position.py 200 300 400
"""
from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

from rag_app.focus import cut
from rag_app.sentences import sentences

sys.path.insert(0, str(Path(__file__).parent))
from answer_position import SETS, holds  # noqa: E402 - the sibling script's sets and answer test

STOP = set("the a an of in on at to for and or is was were are be been by with from as that this which who whom "
           "whose what when where why how did does do i you he she it they we his her its their there then than "
           "into about after before over under up out not no yes".split())


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP]


def pick(text: str, question: str, budget: int, rarity: dict[str, float]) -> str:
    parts = sentences(text)
    if len(text) <= budget or not parts or len(parts[0]) > budget:
        return cut(text, budget)
    asked = set(words(question))

    def overlap(sentence: str) -> float:
        return sum(rarity.get(w, 0.0) for w in set(words(sentence)) & asked)

    kept, used = [0], len(parts[0])
    for i in sorted(range(1, len(parts)), key=lambda i: (-overlap(parts[i]), i)):
        if overlap(parts[i]) <= 0:
            break
        if used + 1 + len(parts[i]) <= budget:
            kept.append(i)
            used += 1 + len(parts[i])
    return " ".join(parts[i] for i in sorted(kept))


def main(budgets: list[int]) -> None:
    root = Path.home() / ".cache/seal-rag/data/eval"
    for name, clips in SETS:
        passages = {p["id"]: p["text"] for p in map(json.loads, (root / name / "passages.jsonl").open())}
        counts = Counter(w for text in passages.values() for w in set(words(text)))
        rarity = {w: math.log(len(passages) / (1 + n)) for w, n in counts.items()}
        queries = [json.loads(line) for line in (root / name / "queries.jsonl").open()][:clips]
        questions = {q["text"]: q for q in queries if q.get("answers")}
        shares = []
        for budget in budgets:
            found = sum(any(holds(pick(passages[g], q["text"], budget, rarity), q["answers"])
                            for g in q["gold"] if g in passages) for q in questions.values())
            shares.append(f"{budget}: {found / len(questions):.2f}")
        print(f"{name:<16} {len(questions):>4} questions, answer in what the picker keeps: " + ", ".join(shares))


if __name__ == "__main__":
    main([int(b) for b in sys.argv[1:]] or [200, 300, 400])
