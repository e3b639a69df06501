"""Whisper's decoder on SEAL's states: the float32 output layer vs the float16 shortlist with the
float32 check (rag_app/shortlist.py). Same clips, same states, the two loops alternated per clip so
machine noise hits both; prints token agreement, the shortlist's fallback rate and decoder time.

  python docs/results/latency-shortlist/decoder_shortlist.py SET_DIR LIMIT [THREADS]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch


def main(set_dir: str, limit: int, threads: int) -> None:
    torch.set_num_threads(threads)
    from rag_app.asr import token_budget
    from rag_app.model_store import load_seal_model
    from rag_app.query import QuerySide
    from rag_app.settings import load_settings
    from rag_app.wiring import make_transcriber
    from seal_model.audio import SAMPLE_RATE
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    side = QuerySide(load_seal_model(settings), make_transcriber(settings))
    asr = side.transcriber
    shortlist = asr.output_argmax
    if shortlist is None:
        sys.exit("no float16 shortlist here (it needs Whisper in float32 on a CPU)")
    times = {"float32": [], "shortlist": []}
    same, tokens_total = 0, 0
    queries = load_eval_set(set_dir).queries[:limit]
    for n, query in enumerate(queries):
        audio = side.decode(query.audio)
        _, _, states = side.hear(audio)
        seconds = len(audio) / SAMPLE_RATE
        results = {}
        for name in (("float32", "shortlist") if n % 2 else ("shortlist", "float32")):
            asr.output_argmax = shortlist if name == "shortlist" else None
            start = time.perf_counter()
            results[name] = asr.greedy_tokens(states[None], token_budget(seconds))
            times[name].append(1000 * (time.perf_counter() - start))
        same += results["float32"] == results["shortlist"]
        tokens_total += len(results["float32"]) - len(asr.prompt)
    asr.output_argmax = shortlist
    f, s = np.array(times["float32"]), np.array(times["shortlist"])
    print(f"{len(queries)} clips, {tokens_total} tokens, {threads} thread(s)")
    print(f"same tokens: {same}/{len(queries)} clips; shortlist fallbacks {shortlist.fallbacks}/{shortlist.calls} steps")
    print(f"decoder p50 float32 {np.median(f):.0f} ms, shortlist {np.median(s):.0f} ms, ratio {np.median(s / f):.3f} "
          f"(per clip, p50); per token {f.sum() / tokens_total:.1f} vs {s.sum() / tokens_total:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2)
