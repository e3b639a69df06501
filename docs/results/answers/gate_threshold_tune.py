"""Top-1 cosine of the question (typed) against the KB with and without its gold passage: can a
threshold tell "the documents say" from "they don't"? Tuning split only (heldout-nq-tune)."""
import json, sys, numpy as np, torch
torch.set_num_threads(1)
from rag_app.settings import load_settings
from rag_app.model_store import load_seal_model
from seal_model.data.eval_set import load_eval_set
es = load_eval_set(sys.argv[1]); seal = load_seal_model(load_settings())
import glob
npz = np.load(glob.glob(str(es.folder / "passage-vectors-*.npz"))[0]); ids = npz["ids"].tolist(); V = npz["vectors"]
index = {p: i for i, p in enumerate(ids)}
qs = {q.text: q for q in es.queries}
Q = seal.embed_text(list(qs))
withg, without = [], []
for vec, q in zip(Q, qs.values()):
    s = V @ vec
    withg.append(s.max())
    s2 = s.copy(); s2[[index[g] for g in q.gold]] = -1; without.append(s2.max())
withg, without = np.array(withg), np.array(without)
print("n", len(withg), "with gold p10/50/90", np.percentile(withg, [10, 50, 90]).round(3), "without", np.percentile(without, [10, 50, 90]).round(3))
for t in np.arange(0.35, 0.75, 0.05):
    print(f"threshold {t:.2f}: abstain with gold {np.mean(withg < t):.2f}, without gold {np.mean(without < t):.2f}")
