"""Score drafts_sim.py's rows: decoder calls and modelled ms per policy (see drafts_sim.py).

  python docs/results/decoder-drafts/drafts_score.py sim_hnq.jsonl [sim_ood.jsonl ...]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from rag_app.sentences import first_sentence  # noqa: E402

K = 8


def tokenizer():
    from transformers import WhisperTokenizer
    from rag_app.model_store import resolve_model_dir
    from rag_app.settings import load_settings
    return WhisperTokenizer.from_pretrained(resolve_model_dir(load_settings(), "whisper"))


def sentence_target(tok, new: list[int], eos: int) -> int:
    """Tokens a decoder that stops at the first sentence's end computes: up to the token after the
    end mark (it must begin with a space or be the end) -- the exact rule."""
    for i in range(len(new)):
        text = tok.decode(new[: i + 1], skip_special_tokens=True)
        if new[i] == eos:
            return i + 1
        if first_sentence(text.strip()) != text.strip():  # the rule WhisperTranscriber._first_sentence_done applies
            return i + 1  # this token (starting with a space) revealed the end
    return len(new)


def lookup_draft(tok, generated: list[int], reading: str, k: int) -> list[int]:
    text = tok.decode(generated, skip_special_tokens=True).lower()
    r = reading.lower()
    if not text.strip():
        draft = " " + reading[:1].upper() + reading[1:]
    else:
        best = None
        for n in range(min(len(text), 40), 1, -1):
            at = r.rfind(text[-n:])
            if at >= 0:
                best = at + n
                break
        if best is None:
            return []
        draft = r[best:]
    return tok.encode(draft, add_special_tokens=False)[:k] if draft else []


def simulate(tok, new: list[int], target: int, reading: str | None, k: int, call1: float, callk: float):
    pos = passes = 0
    ms = 0.0
    while pos < target:
        if reading is None:
            draft = new[pos: pos + k]  # oracle
        elif reading == "":
            draft = []
        else:
            draft = lookup_draft(tok, new[:pos], reading, k)
        accepted = 0
        while accepted < len(draft) and pos + accepted < len(new) and draft[accepted] == new[pos + accepted]:
            accepted += 1
        passes += 1
        ms += call1 + (callk - call1) * len(draft) / (k - 1) if draft else call1
        pos += accepted + 1
    return passes, ms


def main(paths: list[str]) -> None:
    tok = tokenizer()
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    for path in paths:
        rows = [json.loads(line) for line in open(path)]
        stats = {name: [] for name in ("greedy", "sentence", "ctc", "oracle")}
        for row in rows:
            new, c1, ck = row["new"], row["call1_ms"], row[f"call{K}_ms"]
            target = sentence_target(tok, new, eos)
            stats["greedy"].append((len(new), len(new) * c1))
            stats["sentence"].append((target, target * c1))
            stats["ctc"].append(simulate(tok, new, target, row["reading"], K, c1, ck))
            stats["oracle"].append(simulate(tok, new, target, None, K, c1, ck))
        print(f"{path}: {len(rows)} clips; measured greedy p50 {np.median([r['greedy_ms'] for r in rows]):.0f} ms, "
              f"call of 1 token {np.median([r['call1_ms'] for r in rows]):.1f} ms, of {K} {np.median([r[f'call{K}_ms'] for r in rows]):.1f} ms")
        for name, values in stats.items():
            calls, ms = np.array(values).T
            print(f"  {name:9s} calls mean {calls.mean():5.1f}  modelled ms p50 {np.median(ms):5.0f} mean {ms.mean():5.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
