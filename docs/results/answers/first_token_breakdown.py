"""Where the embedded LLM's first token goes: chat template, a bare forward pass over the whole prompt,
and generate()'s first token as a turn gets it (the kept prompt cache reuses the shared instruction).
Prompts: 3 sample-KB passages, each its first 400 characters (a turn cuts at the last sentence end
within 400, about as long), and a sample question.

  python docs/results/answers/first_token_breakdown.py    (stop 32: template 3 ms, prefill 1,185 ms,
                                                          generate()'s first token 953 ms, 375 tokens, p50;
                                                          two more runs: 1,160 / 1,100 and 1,191 / 1,281 ms)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]


def main(prompts: int = 10, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    from knowledge_base.store import Passage
    from rag_app.prompt import build_messages
    from rag_app.settings import load_settings
    from rag_app.wiring import make_llm

    llm = make_llm(load_settings())
    rows = [json.loads(line) for line in open(ROOT / "knowledge_base/sample/wikipedia_sample.jsonl")]
    questions = [json.loads(line)["question"] for line in open(ROOT / "knowledge_base/sample_questions.jsonl")]
    times: dict[str, list[float]] = {"template": [], "prefill": [], "generate_first": []}
    lengths = []
    for i, question in enumerate(questions[:prompts]):
        passages = [Passage(f"p{j}", rows[(7 * i + j) % len(rows)]["text"][:400], 0.5, {}) for j in range(3)]
        messages = build_messages(question, passages)
        start = time.perf_counter()
        inputs = llm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                   return_dict=True)
        times["template"].append(time.perf_counter() - start)
        lengths.append(inputs["input_ids"].shape[1])
        with torch.inference_mode():
            start = time.perf_counter()
            llm.model(**inputs, logits_to_keep=1)
            times["prefill"].append(time.perf_counter() - start)
        start = time.perf_counter()
        next(iter(llm.stream(messages, max_new_tokens=1)), None)
        times["generate_first"].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name} p50 {1000 * np.median(values):.0f} ms")
    print(f"prompt tokens p50 {np.median(lengths):.1f}")


if __name__ == "__main__":
    main()
