"""SEAL's speech vector fused with the text vector of Whisper's decoder on SEAL's own encoder states.

Stop 26 fused SEAL's vector with its CTC reading (WER 0.37) and lost: the reading is wrong where the
vector is. The decoder's words (WER ~0.23) are a different reading of the same forward pass; they fail
on babble, where SEAL's vector does not. The question here: is normalise(seal/|seal| + w * dec/|dec|)
better than either alone? w = 1 (equal weights) was fixed before any run; other weights are printed
for the tuning split only.

Per clip it keeps (in OUT.npz, so rules can be scored again without the models): SEAL's vector, the
decoder's words and their stock-MiniLM vector (the decoder's loop/empty fallback as a turn applies it).

  python docs/results/ood-generalisation/seal_decoder_fusion.py SET_DIR LIMIT OUT.npz [THREADS]
  python docs/results/ood-generalisation/seal_decoder_fusion.py --score SET_DIR OUT.npz [--weights 0.5,1,2]
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from evaluation.evaluate import EvalReport, QueryResult, query_group, record_mode


def collect(set_dir: str, limit: int, out: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from evaluation.evaluate import passage_index
    from rag_app.query import QuerySide
    from rag_app.settings import load_settings
    from rag_app.wiring import make_transcriber
    from rag_app.model_store import load_seal_model
    from seal_model.audio import SAMPLE_RATE
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    eval_set = load_eval_set(set_dir)
    seal = load_seal_model(settings)
    passage_index(eval_set, seal)  # builds the passage-vector cache once, if missing
    side = QuerySide(seal, make_transcriber(settings))
    ids, seal_vectors, decoded, dec_vectors = [], [], [], []
    for n, query in enumerate(eval_set.queries[:limit]):
        audio = side.decode(query.audio)
        vector, reading, states = side.hear(audio)
        words = side.decode_question(states, len(audio) / SAMPLE_RATE)
        usable = bool(words)  # decode_states returns "" for an empty or looping result, as a turn sees it
        text = words if usable else reading
        ids.append(query.id)
        seal_vectors.append(vector)
        decoded.append(text if usable else "")
        dec_vectors.append(side.embed_text(text) if usable else vector)
        if (n + 1) % 25 == 0:
            print(f"{n + 1}/{limit}", flush=True)
            np.savez(out, ids=np.array(ids), seal=np.array(seal_vectors), decoder=np.array(dec_vectors),
                     words=np.array(decoded))
    np.savez(out, ids=np.array(ids), seal=np.array(seal_vectors), decoder=np.array(dec_vectors),
             words=np.array(decoded))


def fuse(seal: np.ndarray, decoder: np.ndarray, weight: float) -> np.ndarray:
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    fused = unit(seal) + weight * unit(decoder)
    return unit(fused).astype(np.float32)


def score(set_dir: str, saved: str, weights: list[float], json_out: str | None = None) -> None:
    from evaluation.evaluate import TempIndex
    from seal_model.data.eval_set import load_eval_set

    eval_set = load_eval_set(set_dir)
    cache = sorted(Path(set_dir).glob("passage-vectors-*.npz"))[0]
    with np.load(cache) as p:
        index = TempIndex(p["ids"].tolist(), p["vectors"])
    with np.load(saved) as s:
        ids, seal, decoder = s["ids"].tolist(), s["seal"], s["decoder"]
    queries = {q.id: q for q in eval_set.queries}
    rules = {"seal": seal, "decoder": decoder}
    rules.update({f"fused w={w:g}": fuse(seal, decoder, w) for w in weights})
    report = EvalReport(eval_set.folder.name, len(index.ids), "cpu")
    for name, vectors in rules.items():
        ranked = index.search(vectors)
        record_mode(report, name, [QueryResult(i, name, r, queries[i].gold, query_group(queries[i]), 0.0)
                                   for i, r in zip(ids, ranked)])
    names = list(rules)
    print(f"{'Top-1 (n)':<28}" + "".join(f"{n:>14}" for n in names))
    for group, by in [("overall", report.overall)] + sorted(report.by_group.items()):
        count = next(iter(by.values()))["n"]
        print(f"{group + f' ({count})':<28}" + "".join(f"{by[n]['top1']:>14.3f}" for n in names))
    print("Top-10 " + ", ".join(f"{n} {report.overall[n]['top10']:.3f}" for n in names))
    if json_out:
        Path(json_out).write_text(json.dumps(dataclasses.asdict(report), indent=1))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--score":
        weights = [1.0]
        if "--weights" in args:
            weights = [float(w) for w in args[args.index("--weights") + 1].split(",")]
        json_out = args[args.index("--json") + 1] if "--json" in args else None
        score(args[1], args[2], weights, json_out)
    else:
        collect(args[0], int(args[1]), args[2], int(args[3]) if len(args) > 3 else 1)
