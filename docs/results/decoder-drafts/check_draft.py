"""Needs drafts.patch applied to commit 1f795e5 (`git checkout 1f795e5 && git apply docs/results/decoder-drafts/drafts.patch`): per clip, the
decoder's tokens without a draft, stopped at the sentence end, with its own output as the draft, and
decode_states with the reading of the clip less its last 0.8 s as the draft (a conversation's
partial); the same tokens each way, and the time of each.

  python docs/results/decoder-drafts/check_draft.py SET_DIR LIMIT
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ood-generalisation"))
import numpy as np
import torch
from clip_runs import open_clip_run
from rag_app.asr import token_budget
from seal_model.audio import SAMPLE_RATE
run = open_clip_run(sys.argv[1], "/dev/null", 2)
seal, tr = run.seal, run.transcriber
rows = []
for query, audio, seconds in run.clips(0, int(sys.argv[2])):
    _, _, states = seal.embed_read_and_encode([audio], silence_s=tr.silence_s)
    enc = states[0][None]
    budget = token_budget(seconds)
    t = time.perf_counter(); base = tr.greedy_tokens(enc, budget); t_base = time.perf_counter() - t
    t = time.perf_counter(); sent = tr.greedy_tokens(enc, budget, until_sentence_end=True); t_sent = time.perf_counter() - t
    new = base[len(tr.prompt):]
    t = time.perf_counter(); own = tr.greedy_tokens(enc, budget, draft=new, until_sentence_end=True); t_own = time.perf_counter() - t
    # a partial: the audio without its last 0.8 s, read as a conversation's last partial would be
    cut = audio[: max(len(audio) - int(0.8 * SAMPLE_RATE), SAMPLE_RATE // 2)]
    _, _, pst = seal.embed_read_and_encode([cut], silence_s=tr.silence_s)
    partial = tr.decode_states(pst[0], len(cut) / SAMPLE_RATE)
    t = time.perf_counter(); full_plain = tr.decode_states(states[0], seconds); t_plain = time.perf_counter() - t
    t = time.perf_counter(); full_draft = tr.decode_states(states[0], seconds, draft=partial); t_draft = time.perf_counter() - t
    same_prefix = sent == base[:len(sent)]
    rows.append((t_base, t_sent, t_own, t_plain, t_draft))
    print(f"{query.id[:10]} same:{own == sent} prefix:{same_prefix} words_same:{full_plain == full_draft} "
          f"base {t_base*1000:.0f} sent {t_sent*1000:.0f} own {t_own*1000:.0f} | plain {t_plain*1000:.0f} draft {t_draft*1000:.0f} | {partial!r} -> {full_draft!r}", flush=True)
r = np.array(rows) * 1000
print("p50 base %.0f sent %.0f own-draft %.0f | decode_states plain %.0f with partial draft %.0f" % tuple(np.median(r, 0)))
