"""The embedded LLM's output layer: float32 vs the float16 shortlist with the float32 check
(rag_app/shortlist.py). Same prompts (3 sample-KB passages + a sample question, as a turn builds
them), greedy, the two alternated per prompt; prints token agreement, fallbacks, time to the first
token and per generated token.

  python docs/results/latency-shortlist/llm_shortlist.py [PROMPTS] [THREADS]   (on commit fe712f6: the head was taken out after)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]


def main(prompts: int, threads: int) -> None:
    torch.set_num_threads(threads)
    from transformers import LogitsProcessorList

    from knowledge_base.store import Passage
    from rag_app.llm import NoRepeatInAnswer
    from rag_app.prompt import build_messages
    from rag_app.settings import load_settings
    from rag_app.shortlist import ShortlistHead
    from rag_app.wiring import make_llm

    llm = make_llm(load_settings())
    model, head, check = llm.model, llm.model.lm_head, llm._exact_argmax
    if not isinstance(head, ShortlistHead):
        sys.exit("no shortlist head on this machine (needs a float32 LLM on a CPU)")
    rows = [json.loads(line) for line in open(ROOT / "knowledge_base/sample/wikipedia_sample.jsonl")]
    questions = [json.loads(line)["question"] for line in open(ROOT / "knowledge_base/sample_questions.jsonl")]
    first = {"float32": [], "shortlist": []}
    per_token = {"float32": [], "shortlist": []}
    same = tokens = 0
    for i, question in enumerate(questions[:prompts]):
        passages = [Passage(f"p{j}", rows[(7 * i + j) % len(rows)]["text"][:400], 0.5, {}) for j in range(3)]
        inputs = llm.tokenizer.apply_chat_template(build_messages(question, passages), add_generation_prompt=True,
                                                   return_tensors="pt", return_dict=True)
        length = inputs["input_ids"].shape[1]
        out = {}
        for name in (("float32", "shortlist") if i % 2 else ("shortlist", "float32")):
            model.lm_head = head if name == "shortlist" else head.linear
            processors = [NoRepeatInAnswer(6, length)] + ([check] if name == "shortlist" else [])
            with torch.inference_mode():
                start = time.perf_counter()
                model.generate(**inputs, max_new_tokens=1, do_sample=False, logits_processor=LogitsProcessorList(processors))
                first[name].append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                ids = model.generate(**inputs, max_new_tokens=48, do_sample=False, logits_processor=LogitsProcessorList(processors))
                total = 1000 * (time.perf_counter() - start)
            out[name] = ids[0, length:].tolist()
            per_token[name].append((total - first[name][-1]) / max(1, len(out[name]) - 1))
        model.lm_head = head
        same += out["float32"] == out["shortlist"]
        tokens += len(out["float32"])
    f, s = np.array(per_token["float32"]), np.array(per_token["shortlist"])
    print(f"{prompts} prompts, {tokens} tokens, {threads} thread(s)")
    print(f"same tokens: {same}/{prompts} answers; shortlist fallbacks {head.shortlist.fallbacks}/{head.shortlist.calls} steps")
    print(f"first token p50 float32 {np.median(first['float32']):.0f} ms, shortlist {np.median(first['shortlist']):.0f} ms")
    print(f"per generated token p50 float32 {np.median(f):.1f} ms, shortlist {np.median(s):.1f} ms, ratio {np.median(s / f):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
