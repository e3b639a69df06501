"""What abstain_below would do, read from one `eval --answers` run (which records each turn's best
cosine): accuracy with the gate (a gated turn abstains, so it is wrong) and, for the same questions
with their gold passages removed, the share the gate would abstain on (the text each turn searched
with - typed text, ASR or decoder words - embedded again and searched without the gold)."""
import glob, json, sys
import numpy as np
from rag_app.settings import load_settings
from rag_app.model_store import load_seal_model
from seal_model.data.eval_set import load_eval_set

report, set_dir = json.load(open(sys.argv[1])), sys.argv[2]
thresholds = [float(t) for t in sys.argv[3].split(",")]
es = load_eval_set(set_dir)
queries = {q.id: q for q in es.queries}
npz = np.load(glob.glob(f"{set_dir}/passage-vectors-*.npz")[0]); ids = npz["ids"].tolist(); V = npz["vectors"]
row = {p: i for i, p in enumerate(ids)}
seal = load_seal_model(load_settings())
rows = report["results"]
texts = [r["heard"] if r["mode"] != "text" else queries[r["query_id"]].text for r in rows]
vecs = seal.embed_text([t or "(inaudible question)" for t in texts])
for r, v in zip(rows, vecs):
    s = V @ v; s[[row[g] for g in queries[r["query_id"]].gold]] = -1; r["without_gold_score"] = float(s.max())
print(f"{'mode':<6}{'threshold':>10}{'accuracy':>10}{'abstain (gold present)':>24}{'abstain (gold removed)':>24}")
for mode in sorted({r["mode"] for r in rows}):
    rs = [r for r in rows if r["mode"] == mode]
    for t in [0.0] + thresholds:
        gated = [t and r["top_score"] is not None and r["top_score"] < t for r in rs]
        acc = np.mean([r["correct"] and not g for r, g in zip(rs, gated)])
        abst = np.mean([r["abstained"] or g for r, g in zip(rs, gated)])
        wo = np.mean([r["without_gold_score"] < t for r in rs]) if t else float("nan")
        print(f"{mode:<6}{t:>10.2f}{acc:>10.3f}{abst:>24.3f}{wo:>24.3f}")
