import time, json
from llama_cpp import Llama
from rag_app.model_store import resolve_gguf
from rag_app.settings import load_settings
rows=[json.loads(l) for l in open("knowledge_base/sample/wikipedia_sample.jsonl")]
text=" ".join(r["text"] for r in rows[:6])
for kw in [dict(n_batch=512), dict(n_batch=512, flash_attn=True), dict(n_batch=64), dict(n_batch=512, n_ubatch=512)]:
    m=Llama(str(resolve_gguf(load_settings())), n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False, **kw)
    toks=m.tokenize(text.encode())[:600]
    for rep in range(2):
        m.reset(); t=time.perf_counter(); m.eval(toks); dt=time.perf_counter()-t
    print(kw, len(toks), f"{dt*1000:.0f} ms", f"{len(toks)/dt:.0f} tok/s")
