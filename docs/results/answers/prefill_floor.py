"""How far the embedded LLM's prefill is from this CPU's float32 limit.

Turn -> first token is SEAL's pass + Whisper's decoder + the LLM's prefill of the prompt. This
measures, in one run on the same threads: the prefill of a prompt-sized input (random tokens,
`logits_to_keep=1` as generate() does), the share of it spent in matrix products (torch profiler),
the rate those products run at, and the rate of one bare product of the same shape, of a 1024^3
product and of NumPy's BLAS (a different library) for comparison. If the prefill's products run at
the bare rate, no kernel or runtime of the same arithmetic can make the prefill much faster; only
fewer prompt tokens (or a smaller model) can.

  python docs/results/answers/prefill_floor.py [TOKENS] [THREADS]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch


def rate(run, flops: float, repeats: int = 30) -> float:
    """GFLOP/s of `run` (best of three batches of `repeats`, after a warm-up)."""
    for _ in range(3):
        run()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        best = min(best, (time.perf_counter() - start) / repeats)
    return flops / best / 1e9


def main(tokens: int = 300, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    from torch.profiler import ProfilerActivity, profile

    from rag_app.settings import load_settings
    from rag_app.wiring import make_llm

    model = make_llm(load_settings()).model
    config = model.config
    ids = torch.randint(100, config.vocab_size - 100, (1, tokens))
    with torch.inference_mode():
        for _ in range(2):
            model(input_ids=ids, logits_to_keep=1)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            model(input_ids=ids, logits_to_keep=1)
            times.append(time.perf_counter() - start)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(input_ids=ids, logits_to_keep=1)
    events = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in events)
    mm_us = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    # the layers' linear maps: per token 2 flops per weight (attention products are small here)
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (hidden // config.num_attention_heads)
    weights = layers * (2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inter)
    flops = 2 * weights * tokens
    a, w = torch.randn(tokens, hidden), torch.randn(inter, hidden)
    big_a, big_b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    np_a, np_w = a.numpy(), np.ascontiguousarray(w.numpy().T)
    print(f"{config.model_type}, {tokens} prompt tokens, {threads} threads, float32")
    print(f"prefill p50 {1000 * np.median(times):.0f} ms; matrix products {100 * mm_us / total_us:.0f}% of it "
          f"({mm_us / 1000:.0f} of {total_us / 1000:.0f} ms profiled)")
    print(f"the prefill's linear maps: {flops / 1e9:.1f} GFLOP -> {flops / (mm_us / 1e6) / 1e9:.0f} GFLOP/s inside the products")
    bare = rate(lambda: torch.nn.functional.linear(a, w), 2 * tokens * hidden * inter)
    print(f"bare product {tokens}x{hidden} @ {hidden}x{inter}: {bare:.0f} GFLOP/s; "
          f"1024^3: {rate(lambda: big_a @ big_b, 2 * 1024 ** 3, 10):.0f}; NumPy's BLAS (OpenBLAS), same shape: "
          f"{rate(lambda: np_a @ np_w, 2 * tokens * hidden * inter):.0f}")
    print(f"so at the bare rate the linear maps alone need >= {1000 * flops / (bare * 1e9):.0f} ms")

if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
