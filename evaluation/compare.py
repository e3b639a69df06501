"""Paired comparison of two evaluation reports on the same set (`seal-rag compare`).

Why paired: two checkpoints answer the same queries, so most queries are right (or wrong) for
both; only the queries where they disagree carry evidence. Comparing two Top-1 aggregates
ignores that and calls a 2-point gap noise when a paired test can tell. McNemar's exact test
counts the discordant queries; a paired bootstrap gives intervals for the Top-1 and MRR@10
differences.
"""
from __future__ import annotations

import math
import random


def _binomial_two_sided(k: int, n: int) -> float:
    """P-value of k or fewer successes (or as extreme on the other side) in n fair coin flips."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(ranks_a: dict[str, int], ranks_b: dict[str, int], samples: int = 2000, seed: int = 0) -> dict:
    """Per-query gold ranks (0 = not in the top 10) of A and B -> B minus A, with uncertainty."""
    common = sorted(set(ranks_a) & set(ranks_b))
    if not common:
        raise ValueError("the two reports share no query ids: were they run on the same set?")
    hit_a = [1 if ranks_a[q] == 1 else 0 for q in common]
    hit_b = [1 if ranks_b[q] == 1 else 0 for q in common]
    rr_a = [1 / ranks_a[q] if ranks_a[q] else 0.0 for q in common]
    rr_b = [1 / ranks_b[q] if ranks_b[q] else 0.0 for q in common]
    only_a = sum(1 for a, b in zip(hit_a, hit_b) if a and not b)
    only_b = sum(1 for a, b in zip(hit_a, hit_b) if b and not a)
    n = len(common)
    rng = random.Random(seed)
    top1_diffs, mrr_diffs = [], []
    for _ in range(samples):
        picks = [rng.randrange(n) for _ in range(n)]
        top1_diffs.append(sum(hit_b[i] - hit_a[i] for i in picks) / n)
        mrr_diffs.append(sum(rr_b[i] - rr_a[i] for i in picks) / n)

    def interval(values: list[float]) -> list[float]:
        ordered = sorted(values)
        return [ordered[int(0.025 * samples)], ordered[min(int(0.975 * samples), samples - 1)]]

    return {
        "n": n, "top1_a": sum(hit_a) / n, "top1_b": sum(hit_b) / n, "top1_diff": (sum(hit_b) - sum(hit_a)) / n,
        "top1_diff_95ci": interval(top1_diffs), "only_a": only_a, "only_b": only_b,
        "mcnemar_p": _binomial_two_sided(min(only_a, only_b), only_a + only_b),
        "mrr10_a": sum(rr_a) / n, "mrr10_b": sum(rr_b) / n, "mrr10_diff": (sum(rr_b) - sum(rr_a)) / n,
        "mrr10_diff_95ci": interval(mrr_diffs),
    }


def answer_outcomes(report: dict, mode: str) -> dict[str, int]:
    """An `eval --answers` report's per-query outcomes in `paired_comparison`'s terms: a correct
    answer counts as rank 1, a wrong one as 0 (so "Top-1" there reads as answer accuracy)."""
    return {r["query_id"]: 1 if r["correct"] else 0 for r in report.get("results", []) if r.get("mode") == mode}


def format_comparison(name_a: str, name_b: str, result: dict, answers: bool = False) -> str:
    lo, hi = result["top1_diff_95ci"]
    mlo, mhi = result["mrr10_diff_95ci"]
    label = "Answers" if answers else "Top-1  "
    lines = [
        f"A = {name_a}", f"B = {name_b}", f"{result['n']} queries in both",
        f"{label} A {result['top1_a']:.3f}  B {result['top1_b']:.3f}  B-A {result['top1_diff']:+.3f} "
        f"(95% paired bootstrap {lo:+.3f} .. {hi:+.3f})",
        f"        right only in A: {result['only_a']}, only in B: {result['only_b']}; "
        f"McNemar exact p = {result['mcnemar_p']:.3f}",
    ]
    if not answers:  # an answer is right or wrong: no ranks, no MRR
        lines.append(f"MRR@10  A {result['mrr10_a']:.3f}  B {result['mrr10_b']:.3f}  B-A {result['mrr10_diff']:+.3f} "
                     f"(95% paired bootstrap {mlo:+.3f} .. {mhi:+.3f})")
    return "\n".join(lines)
