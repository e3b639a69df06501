"""Could the LLM's prefill of the passages run while Whisper's decoder reads the question?

Turn -> first token is SEAL's pass, then the decoder (~0.4 s), then the LLM's prefill (~0.9 s), one
after the other on the same 2 cores. The passages come first in the prompt, so their prefill does not
need the decoder's words. This measures, on the same clips and a prompt-sized input: the decoder then
the prefill with 2 threads (as shipped), against both at once, each on 1 thread (PyTorch's thread count
is process-wide: two overlapping stages get a core each, or both ask for 2 threads). Wall time of the pair, p50 over clips.

  python docs/results/answers/overlap_prefill.py SET_DIR CLIPS [PROMPT_TOKENS]
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import torch


def main(set_dir: str, clips: int, prompt_tokens: int = 280) -> None:
    from rag_app.audio import decode_audio
    from rag_app.model_store import load_seal_model
    from rag_app.settings import load_settings
    from rag_app.wiring import make_llm, make_transcriber
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    seal, transcriber, llm = load_seal_model(settings), make_transcriber(settings), make_llm(settings).model
    ids = torch.randint(100, llm.config.vocab_size - 100, (1, prompt_tokens))
    model = transcriber.model

    def decode(states, budget):
        transcriber.greedy_tokens(states, budget)

    def prefill():
        with torch.inference_mode():
            llm(input_ids=ids, logits_to_keep=1)

    torch.set_num_threads(2)
    prefill(); prefill()
    sequential, overlapped, crowded, parts = [], [], [], []
    for query in load_eval_set(set_dir).queries[:clips]:
        audio = decode_audio(query.audio)
        torch.set_num_threads(2)
        _, _, states = seal.embed_read_and_encode([audio], silence_s=settings.decoder_silence_s)
        encoder = states[0][None].to(model.dtype)
        budget = int(3.5 * len(audio) / 16000) + 8
        decode(encoder, 2)
        start = time.perf_counter()
        decode(encoder, budget)
        middle = time.perf_counter()
        prefill()
        end = time.perf_counter()
        sequential.append(end - start)
        parts.append((middle - start, end - middle))
        for threads, walls in ((1, overlapped), (2, crowded)):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            worker = threading.Thread(target=prefill)
            worker.start()
            decode(encoder, budget)
            decoded = time.perf_counter()
            worker.join()
            walls.append(time.perf_counter() - start)
            parts[-1] += (decoded - start,)
    torch.set_num_threads(2)
    ms = lambda xs: 1000 * float(np.median(xs))
    print(f"{len(sequential)} clips, prompt {prompt_tokens} tokens, float32")
    print(f"2 threads, one after the other: decoder {ms([p[0] for p in parts]):.0f} + prefill "
          f"{ms([p[1] for p in parts]):.0f} = {ms(sequential):.0f} ms p50")
    print(f"1 thread each, at once: both done {ms(overlapped):.0f} ms p50 (decoder done at {ms([p[2] for p in parts]):.0f})")
    print(f"2 threads each, at once (4 on 2 cores): both done {ms(crowded):.0f} ms p50 (decoder done at {ms([p[3] for p in parts]):.0f})")
    for name, walls in (("1 thread each", overlapped), ("2 threads each", crowded)):
        print(f"ratio at once ({name}) / one after the other: {np.median(np.array(walls) / np.array(sequential)):.2f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(x) for x in sys.argv[3:4]))
