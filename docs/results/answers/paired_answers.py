"""Paired per-clip comparison of two answer runs (`seal-rag eval --answers` JSON): where they
disagree, and whether the difference is more than chance (exact two-sided McNemar test).

  python docs/results/answers/paired_answers.py A.json[,A2.json] MODE_A B.json[,B2.json] MODE_B

Several files per side are joined (a set evaluated in parts). Also lists the clips where A's heard
question is far from B's (word edit distance over half of B's words), with who answered them.
"""
from __future__ import annotations

import json
import re
import sys
from math import comb


def load(files: str, mode: str) -> dict[str, dict]:
    rows = {}
    for name in files.split(","):
        for row in json.load(open(name))["results"]:
            if row["mode"] == mode:
                rows[row["query_id"]] = row
    return rows


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[:], i
        for j, y in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
    return row[-1]


def mcnemar_p(only_a: int, only_b: int) -> float:
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0


def main(a_files: str, a_mode: str, b_files: str, b_mode: str) -> None:
    a, b = load(a_files, a_mode), load(b_files, b_mode)
    shared = [q for q in a if q in b]
    only_a = sum(a[q]["correct"] and not b[q]["correct"] for q in shared)
    only_b = sum(b[q]["correct"] and not a[q]["correct"] for q in shared)
    print(f"{len(shared)} clips in both; correct: A {sum(a[q]['correct'] for q in shared)}, "
          f"B {sum(b[q]['correct'] for q in shared)}; only A {only_a}, only B {only_b}, "
          f"exact McNemar p = {mcnemar_p(only_a, only_b):.2f}")
    gold = [(a[q]["gold_retrieved"], b[q]["gold_retrieved"]) for q in shared]
    print(f"gold passage retrieved: both {gold.count((True, True))}, only A {gold.count((True, False))}, "
          f"only B {gold.count((False, True))}, neither {gold.count((False, False))}")
    far = [q for q in shared
           if edit_distance(words(a[q]["heard"]), words(b[q]["heard"])) > 0.5 * max(1, len(words(b[q]["heard"])))]
    print(f"{len(far)} clips where A heard something far from B; answered only by A "
          f"{sum(a[q]['correct'] and not b[q]['correct'] for q in far)}, only by B "
          f"{sum(b[q]['correct'] and not a[q]['correct'] for q in far)}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
