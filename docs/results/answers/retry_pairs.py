"""decoder_retry off vs on, per clip: two `seal-rag eval --modes seal --answers` reports of the same clips.

  python docs/results/answers/retry_pairs.py OFF.json:ON.json [...] [-v]

Prints accuracy both ways, answers gained / lost, how many clips were heard differently (the retry
fired and the padded transcription differed), the share whose gold passage the LLM read, and time to
first token p50 / p90 (ms, as the eval measured it); -v lists the clips heard differently.
"""
from __future__ import annotations

import json
import sys

import numpy as np


def load(path: str) -> dict[str, dict]:
    return {row["query_id"]: row for row in json.load(open(path))["results"]}


def show(off_path: str, on_path: str, verbose: bool = False) -> None:
    off, on = load(off_path), load(on_path)
    heard_differently = [k for k in off if off[k]["heard"] != on[k]["heard"]]
    gains = sum(1 for k in off if on[k]["correct"] and not off[k]["correct"])
    losses = sum(1 for k in off if off[k]["correct"] and not on[k]["correct"])
    ttft = [[r["first_token_ms"] for r in run.values() if r["first_token_ms"]] for run in (off, on)]
    accuracy = [np.mean([r["correct"] for r in run.values()]) for run in (off, on)]
    gold = [np.mean([r["gold_retrieved"] for r in run.values()]) for run in (off, on)]
    # the same question and passages, another reply: the LLM's run-to-run noise on a shared CPU
    noise = sum(1 for k in off if k not in heard_differently and off[k]["reply"] != on[k]["reply"])
    print(f"{on_path}: n={len(off)} acc off {accuracy[0]:.3f} on {accuracy[1]:.3f} "
          f"delta {gains - losses:+d} (gains {gains}, losses {losses}); "
          f"heard differently {len(heard_differently)} ({len(heard_differently) / len(off):.1%}); "
          f"gold read off {gold[0]:.3f} on {gold[1]:.3f}; "
          f"TTFT p50 {np.percentile(ttft[0], 50):.0f}/{np.percentile(ttft[1], 50):.0f} "
          f"p90 {np.percentile(ttft[0], 90):.0f}/{np.percentile(ttft[1], 90):.0f}; "
          f"replies differing with same heard {noise}")
    if verbose:
        for k in heard_differently:
            print(int(off[k]["correct"]), int(on[k]["correct"]), "|", off[k]["heard"][:60], "|", on[k]["heard"][:60])


if __name__ == "__main__":
    for pair in [arg for arg in sys.argv[1:] if arg != "-v"]:
        off_path, on_path = pair.split(":")
        show(off_path, on_path, verbose="-v" in sys.argv)
