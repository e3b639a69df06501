"""Where the embedded LLM's first token goes: chat template, a bare forward pass over the whole prompt,
and generate()'s first token as a turn gets it (the kept prompt cache reuses the shared instruction).
Prompts as a turn builds them: 3 sample-KB passages of <= 400 characters + a sample question.

  python docs/results/answers/first_token_breakdown.py    (stop 32: template 3 ms, prefill 1,185 ms,
                                                          generate()'s first token 953 ms, 375 tokens, p50;
                                                          a second run 1,160 / 1,100 ms)
"""
import json, time, torch, numpy as np
torch.set_num_threads(2)
from rag_app.settings import load_settings
from rag_app.wiring import make_llm
from rag_app.prompt import build_messages
from knowledge_base.store import Passage
s = load_settings(); llm = make_llm(s)
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
rows = [json.loads(l) for l in open(ROOT / "knowledge_base/sample/wikipedia_sample.jsonl")]
qs = [json.loads(l)["question"] for l in open(ROOT / "knowledge_base/sample_questions.jsonl")][:10]
tok, model = llm.tokenizer, llm.model
res = {"template": [], "prefill": [], "generate_first": [], "n": []}
for i, q in enumerate(qs):
    ps = [Passage(f"p{j}", rows[(7 * i + j) % len(rows)]["text"][:400], 0.5, {}) for j in range(3)]
    msgs = build_messages(q, ps)
    t = time.perf_counter(); inputs = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True); res["template"].append(time.perf_counter() - t)
    n = inputs["input_ids"].shape[1]; res["n"].append(n)
    with torch.inference_mode():
        t = time.perf_counter(); model(**inputs, logits_to_keep=1); res["prefill"].append(time.perf_counter() - t)
    t = time.perf_counter()
    for piece in llm.stream(msgs, max_new_tokens=1):
        break
    res["generate_first"].append(time.perf_counter() - t)
for k, v in res.items():
    print(k, np.median(v) * (1 if k == "n" else 1000))
