"""Whisper's decoder on SEAL's states: float32 vs int8 decoder (PyTorch dynamic quantisation, per-channel
weights, linear layers of the decoder and proj_out), same clips, interleaved: words and time.
Stop 30: python docs/results/ood-generalisation/decoder_int8.py ~/.cache/seal-rag/data/eval/ood-names 1 40
(int8 was dropped: run it on commit d9bacd9, whose greedy loop gives proj_out the 2-D input int8 layers need,
with per_channel_dynamic_qconfig for default_dynamic_qconfig in seal_model/device.py, as measured; the
retrieval effect: SEAL_RAG_GENERATION_DTYPE=int8 seal-rag eval --modes decoder on that commit)."""
import sys, time, statistics
import torch
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
from rag_app.settings import load_settings
from rag_app.model_store import load_seal_model, resolve_model_dir
from rag_app.asr import WhisperTranscriber
from rag_app.query import QuerySide
from seal_model.data.eval_set import load_eval_set
from seal_model.audio import SAMPLE_RATE
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from evaluation.evaluate import word_errors

s = load_settings()
es = load_eval_set(sys.argv[1])
seal = load_seal_model(s)
d = resolve_model_dir(s, "whisper")
tf, tq = WhisperTranscriber(d, "cpu"), WhisperTranscriber(d, "cpu")
quantize_dynamic(tq.model, {n: per_channel_dynamic_qconfig for n, m in tq.model.named_modules() if isinstance(m, torch.nn.Linear)
                            and (n.startswith("model.decoder.") or n == "proj_out")}, dtype=torch.qint8, inplace=True)
qs = QuerySide(seal, tf)
n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
times = {"f": [], "q": []}; errs = {"f": [0, 0], "q": [0, 0]}; same = 0
for q in es.queries[:n]:
    audio = qs.decode(q.audio)
    _v, _r, states = qs.hear(audio)
    sec = len(audio) / SAMPLE_RATE
    out = {}
    for k, t in (("f", tf), ("q", tq)):
        st = time.perf_counter(); out[k] = t.decode_states(states, sec); times[k].append(time.perf_counter() - st)
        e, m = word_errors(q.text, out[k]); errs[k][0] += e; errs[k][1] += m
    same += out["f"] == out["q"]
    if out["f"] != out["q"]:
        print("F:", out["f"], "\nQ:", out["q"])
for k in times:
    print(k, "p50 ms", round(statistics.median(times[k]) * 1000), "WER", round(errs[k][0] / errs[k][1], 3))
print("identical", same, "/", n)
