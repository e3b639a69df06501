"""How many decoder passes would Whisper's greedy reading of SEAL's states need with a draft?

Per clip: the greedy tokens (as the turn computes them), SEAL's CTC reading, and the number of
decoder calls under policies (simulated: verification accepts a draft token iff it equals greedy's):
  greedy      one call per token, to <|endoftext|> or the budget (today)
  sentence    stop at the first sentence's end mark (the turn keeps only the first sentence)
  ctc         + prompt-lookup drafts from SEAL's reading (case-folded lookup), up to K a call
  oracle      + the right tokens as the draft (a lower bound)
Also times a decoder call over 1 vs K tokens on the same states.

  python docs/results/decoder-drafts/drafts_sim.py SET_DIR LIMIT OUT.jsonl [THREADS]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ood-generalisation"))
K = 8


def main(set_dir: str, limit: int, out: str, threads: int = 2) -> None:
    import torch
    from clip_runs import open_clip_run
    from rag_app.asr import token_budget
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    run = open_clip_run(set_dir, out, threads)
    seal, tr = run.seal, run.transcriber
    tok = tr.processor.tokenizer
    with open(out, "a") as sink:
        for query, audio, seconds in run.clips(0, limit):
            vectors, readings, states = seal.embed_read_and_encode([audio], silence_s=tr.silence_s)
            enc = states[0][None].to(tr.model.device, tr.model.dtype)
            t0 = time.perf_counter()
            tokens = tr.greedy_tokens(enc, token_budget(seconds))
            greedy_ms = (time.perf_counter() - t0) * 1000
            new = tokens[len(tr.prompt):]
            # time one call of 1 token and one of K tokens after the prompt (cache holds the prompt)
            times = {}
            for k in (1, K):
                best = 1e9
                for _ in range(3):
                    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
                    with torch.inference_mode():
                        tr.model.model.decoder(input_ids=torch.tensor([tr.prompt]), encoder_hidden_states=enc, cache=cache, use_cache=True)
                        t0 = time.perf_counter()
                        out_ = tr.model.model.decoder(input_ids=torch.tensor([(new + [0] * K)[:k]]), encoder_hidden_states=enc, cache=cache, use_cache=True)
                        tr.model.proj_out(out_.last_hidden_state[0]).argmax(-1)
                    best = min(best, (time.perf_counter() - t0) * 1000)
                times[k] = best
            row = {"id": query.id, "seconds": seconds, "reading": readings[0], "new": new,
                   "pieces": [tok.convert_ids_to_tokens(t) for t in new],
                   "draft_ids": tok.encode(" " + readings[0], add_special_tokens=False),
                   "draft_cap_ids": tok.encode(" " + readings[0][:1].upper() + readings[0][1:], add_special_tokens=False),
                   "greedy_ms": greedy_ms, "call1_ms": times[1], f"call{K}_ms": times[K]}
            sink.write(json.dumps(row) + "\n")
            sink.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2)
