"""Merge `seal-rag eval --answers` reports of disjoint clips of one set (run in parts, e.g. clips 1-60
and 61-300 on two cores) into one report, summarised by the evaluation's own code.

  python docs/results/answers/merge_answers.py OUT.json PART.json [PART.json ...]
"""
import dataclasses
import json
import sys
from collections import defaultdict

from evaluation.answers import AnswerResult, build_report, format_answers

out, parts = sys.argv[1], [json.load(open(p)) for p in sys.argv[2:]]
if len({(p["llm"], p["without_gold"]) for p in parts}) != 1:
    sys.exit("the parts were run with different LLMs or gold settings")
by_mode: dict[str, list[AnswerResult]] = defaultdict(list)
seen: set[tuple[str, str]] = set()
for part in parts:
    for row in part["results"]:
        if (row["query_id"], row["mode"]) in seen:
            sys.exit(f"{row['query_id']} ({row['mode']}) is in two parts: they must be disjoint")
        seen.add((row["query_id"], row["mode"]))
        by_mode[row["mode"]].append(AnswerResult(**row))
report = build_report(parts[0]["set_name"].split("-61-")[0], parts[0]["llm"], parts[0]["without_gold"], by_mode)
print(format_answers(report))
with open(out, "w") as fh:
    json.dump(dataclasses.asdict(report), fh, indent=2)
