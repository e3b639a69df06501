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
    from rag_app.asr import token_budget
    from rag_app.audio import decode_audio
    from rag_app.model_store import load_seal_model
    from rag_app.settings import load_settings
    from rag_app.wiring import make_llm, make_transcriber
    from seal_model.audio import SAMPLE_RATE
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    seal, transcriber, llm = load_seal_model(settings), make_transcriber(settings), make_llm(settings).model
    ids = torch.randint(100, llm.config.vocab_size - 100, (1, prompt_tokens))

    def prefill() -> None:
        with torch.inference_mode():
            llm(input_ids=ids, logits_to_keep=1)

    torch.set_num_threads(2)
    prefill(); prefill()
    ms: dict[str, list[float]] = {"decoder": [], "prefill": [], "sequential": []}
    for threads in (1, 2):
        ms[f"at once {threads}"], ms[f"decoder done {threads}"] = [], []
    for query in load_eval_set(set_dir).queries[:clips]:
        audio = decode_audio(query.audio)
        torch.set_num_threads(2)
        _, _, states = seal.embed_read_and_encode([audio], silence_s=settings.decoder_silence_s)
        encoder = states[0][None].to(transcriber.model.dtype)
        budget = token_budget(len(audio) / SAMPLE_RATE)
        transcriber.greedy_tokens(encoder, 2)  # warm
        start = time.perf_counter()
        transcriber.greedy_tokens(encoder, budget)
        middle = time.perf_counter()
        prefill()
        end = time.perf_counter()
        ms["decoder"].append(1000 * (middle - start))
        ms["prefill"].append(1000 * (end - middle))
        ms["sequential"].append(1000 * (end - start))
        for threads in (1, 2):  # a core each, or both asking for two threads
            torch.set_num_threads(threads)
            start = time.perf_counter()
            worker = threading.Thread(target=prefill)
            worker.start()
            transcriber.greedy_tokens(encoder, budget)
            ms[f"decoder done {threads}"].append(1000 * (time.perf_counter() - start))
            worker.join()
            ms[f"at once {threads}"].append(1000 * (time.perf_counter() - start))
    torch.set_num_threads(2)
    p50 = {name: float(np.median(values)) for name, values in ms.items()}
    print(f"{len(ms['sequential'])} clips, prompt {prompt_tokens} tokens, LLM in {llm.dtype}")
    print(f"2 threads, one after the other: decoder {p50['decoder']:.0f} + prefill {p50['prefill']:.0f} "
          f"= {p50['sequential']:.0f} ms p50")
    for threads, name in ((1, "1 thread each"), (2, "2 threads each (4 on 2 cores)")):
        ratio = np.median(np.array(ms[f"at once {threads}"]) / np.array(ms["sequential"]))
        print(f"{name}, at once: both done {p50[f'at once {threads}']:.0f} ms p50 (decoder done at "
              f"{p50[f'decoder done {threads}']:.0f}); ratio to one after the other {ratio:.2f}")

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(x) for x in sys.argv[3:4]))
