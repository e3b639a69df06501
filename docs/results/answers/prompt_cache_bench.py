"""Time to first token on real ~600-token prompts: the kept prompt cache vs a fresh one, interleaved."""
import json, time, statistics, torch
torch.set_num_threads(2)
from rag_app.settings import load_settings
from rag_app.wiring import make_llm
from rag_app.prompt import build_messages
from rag_app.prompt_cache import PromptCache
from knowledge_base.store import Passage
from knowledge_base import SAMPLE_KB
import glob
rows = [json.loads(l) for f in sorted(glob.glob(str(SAMPLE_KB / "*.jsonl"))) for l in open(f)]
from rag_app.focus import cut
texts = [r["text"] for r in rows]
llm = make_llm(load_settings())
def ttft(msgs):
    s = time.perf_counter(); it = llm.stream(msgs, max_new_tokens=4); next(it); t = time.perf_counter() - s
    for _ in it: pass
    return t
res = {"kept": [], "fresh": []}
ntok = []
for n in range(22):
    from rag_app.focus import focus
    msgs = build_messages(f"question number {n} about the passages?", focus([Passage(str(i), texts[(3 * n + i) % len(texts)], 0.5, {}) for i in range(3)], 400))
    ntok.append(len(llm.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_dict=True)["input_ids"]))
    which = "fresh" if n % 2 else "kept"
    if which == "fresh": llm._prompt_cache = PromptCache()
    t = ttft(msgs)
    if n >= 2: res[which].append(t)
print("prompt tokens p50", statistics.median(ntok), {k: round(statistics.median(v) * 1000) for k, v in res.items()}, "ms first token p50")
