"""Whisper's decoder on SEAL's states, to <|endoftext|> (before) vs stopped at the first sentence's
end (`greedy_tokens(until_sentence_end=True)`, what `decode_states` now does), per clip, the two
alternated in one process on the same states (2 threads, CPU to itself):

  python docs/results/decoder-drafts/sentence_stop.py SET_DIR LIMIT
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ood-generalisation"))


def main(set_dir: str, limit: int) -> None:
    from clip_runs import open_clip_run
    from rag_app.asr import token_budget

    run = open_clip_run(set_dir, "/dev/null", 2)
    seal, transcriber = run.seal, run.transcriber
    ms = {False: [], True: []}
    tokens = {False: [], True: []}
    for n, (_query, audio, seconds) in enumerate(run.clips(0, limit)):
        _, _, states = seal.embed_read_and_encode([audio], silence_s=transcriber.silence_s)
        for stop in ((False, True) if n % 2 else (True, False)):  # alternate which runs first
            start = time.perf_counter()
            out = transcriber.greedy_tokens(states[0][None], token_budget(seconds), until_sentence_end=stop)
            ms[stop].append((time.perf_counter() - start) * 1000)
            tokens[stop].append(len(out) - len(transcriber.prompt))
    before, after = np.array(ms[False]), np.array(ms[True])
    print(f"{len(before)} clips; decoder calls mean {np.mean(tokens[False]):.2f} -> {np.mean(tokens[True]):.2f}; "
          f"ms p50 {np.median(before):.0f} -> {np.median(after):.0f}, mean {before.mean():.0f} -> {after.mean():.0f}, "
          f"p95 {np.percentile(before, 95):.0f} -> {np.percentile(after, 95):.0f}; paired median {np.median(after - before):+.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
