"""Where Whisper's decoder loses time per token on a CPU, and which switch gets it back with the same words.

A decoded token reads ~90 MB of float32 decoder weights plus the 53 MB float16 shortlist of the
output layer (rag_app.shortlist): at this machine's memory bandwidth that is ~10 ms, but a step
takes ~25-30 ms. Suspects (from a profile taken on a busy CPU): one query token attending over ~150 encoder frames
goes through PyTorch's flash attention kernel for CPU (built for long queries), and 2 threads
synchronise on every small op.
Per clip, alternating: (attention kernel, threads) in CONFIGS on the same encoder states (SEAL's
pass, with the shipped silence); tokens compared with the first config's.

  python docs/results/latency-shortlist/decoder_speed.py SET_DIR CLIPS

Stop 33, heldout-nq-tune, 30 clips, quiet (decoder-speed-s33.txt): no switch helps. sdpa / eager
attention with 2 threads 334 / 337 ms p50 (ratio 1.023), 1 thread 1.15x slower; same tokens 30/30.
A quiet profile puts ~half a step in the layers' matrix-vector products, which read their 88 MB
of float32 weights at ~8-9 GB/s (this machine's memory bandwidth for data not in cache): the
float32 decoder is near its floor; fewer bytes (float16 weights) would not give the same words.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

CONFIGS = (("sdpa", 2), ("eager", 2), ("sdpa", 1), ("eager", 1))


def main(set_dir: str, clips: int) -> None:
    from rag_app.asr import token_budget
    from rag_app.audio import decode_audio
    from rag_app.model_store import load_seal_model
    from rag_app.settings import load_settings
    from rag_app.wiring import make_transcriber
    from seal_model.audio import SAMPLE_RATE
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    seal, transcriber = load_seal_model(settings), make_transcriber(settings)
    model = transcriber.model
    queries = load_eval_set(set_dir).queries[:clips]
    times: dict[tuple, list[float]] = {c: [] for c in CONFIGS}
    same = {c: 0 for c in CONFIGS}
    steps = []
    for query in queries:
        audio = decode_audio(query.audio)
        torch.set_num_threads(2)
        _, _, states = seal.embed_read_and_encode([audio], silence_s=settings.decoder_silence_s)
        encoder = states[0][None].to(model.dtype)
        budget = token_budget(len(audio) / SAMPLE_RATE)
        reference = None
        for config in CONFIGS:
            attention, threads = config
            model.set_attn_implementation(attention)
            torch.set_num_threads(threads)
            transcriber.greedy_tokens(encoder, 2)  # warm this configuration
            start = time.perf_counter()
            tokens = transcriber.greedy_tokens(encoder, budget)
            times[config].append((time.perf_counter() - start) * 1000)
            reference = tokens if reference is None else reference
            same[config] += tokens == reference
        steps.append(len(reference) - len(transcriber.prompt))
    base = np.array(times[CONFIGS[0]])
    print(f"{len(queries)} clips, {np.median(steps):.0f} tokens p50")
    for config in CONFIGS:
        t = np.array(times[config])
        print(f"{config[0]:5} {config[1]} threads: p50 {np.median(t):6.0f} ms, {np.median(t) / np.median(steps):5.1f} ms a token, "
              f"paired ratio to {CONFIGS[0]} p50 {np.median(t / base):.3f}, same tokens {same[config]}/{len(queries)}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
