"""decoder_retry off vs on, per clip: two `seal-rag eval --modes seal --answers` reports of the same clips.

  python docs/results/answers/retry_pairs.py OFF.json:ON.json [...] [-v]

Prints accuracy both ways, answers gained / lost, how many clips were heard differently (the retry
fired and the padded transcription differed), the share whose gold passage the LLM read, and time to
first token p50 / p90 (ms, as the eval measured it); -v lists the clips heard differently.
"""
import json, sys
import numpy as np
def load(p): return {r['query_id']: r for r in json.load(open(p))['results']}
def show(off, on, verbose=False):
    a, b = load(off), load(on)
    diff = [k for k in a if a[k]['heard'] != b[k]['heard']]
    delta = sum(b[k]['correct'] - a[k]['correct'] for k in a)
    gains = sum(1 for k in a if b[k]['correct'] and not a[k]['correct'])
    losses = sum(1 for k in a if a[k]['correct'] and not b[k]['correct'])
    ta = [a[k]['first_token_ms'] for k in a if a[k]['first_token_ms']]; tb = [b[k]['first_token_ms'] for k in b if b[k]['first_token_ms']]
    print(f"{on}: n={len(a)} acc off {np.mean([r['correct'] for r in a.values()]):.3f} on {np.mean([r['correct'] for r in b.values()]):.3f} "
          f"delta {delta:+d} (gains {gains}, losses {losses}); heard differently {len(diff)} ({len(diff)/len(a):.1%}); "
          f"gold read off {np.mean([r['gold_retrieved'] for r in a.values()]):.3f} on {np.mean([r['gold_retrieved'] for r in b.values()]):.3f}; "
          f"TTFT p50 {np.percentile(ta,50):.0f}/{np.percentile(tb,50):.0f} p90 {np.percentile(ta,90):.0f}/{np.percentile(tb,90):.0f}; "
          f"replies differing with same heard {sum(1 for k in a if k not in diff and a[k]['reply'] != b[k]['reply'])}")
    if verbose:
        for k in diff: print(int(a[k]['correct']), int(b[k]['correct']), '|', a[k]['heard'][:60], '|', b[k]['heard'][:60])
for pair in [arg for arg in sys.argv[1:] if arg != '-v']:
    off, on = pair.split(':'); show(off, on, verbose='-v' in sys.argv)
