"""Does Whisper's decoder read SEAL's encoder states better with a little silence after the speech?

The default SEAL turn decodes the question from the encoder states of the trimmed clip (no 30 s
padding: the latency win). Whisper was trained on padded input; on `heldout-nq` its words on the
trimmed states have WER 0.23 where the padded ASR pass has 0.13. Appending PAD seconds of zeros to
the audio before the one encoder pass is what Whisper's own padding does (zeros, then log-mel),
only shorter: the encoder costs (clip + PAD) / clip as much. SEAL's vector is then pooled over the
speech frames of that pass (`SealModel.embed_read_and_encode(..., silence_s)`).

Per clip and pad it keeps (JSONL, one line per clip, resumable): the decoder's words ("" when a
turn would not use them), the encoder pass and decoder times, SEAL's vector's gold rank and the
decoder search's gold rank as a turn searches (the words, else SEAL's vector).

  python docs/results/ood-generalisation/decoder_padding.py SET_DIR LIMIT OUT.jsonl [PADS] [THREADS] [START]
  python docs/results/ood-generalisation/decoder_padding.py --score SET_DIR OUT.jsonl
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

PADS = (0.0, 0.5, 1.0, 2.0)


def speech_frames(seal, audio: np.ndarray, pad_s: float):
    """SEAL's vector (speech frames only) and the encoder states, speech and silence, of one encoder
    pass over `audio` followed by `pad_s` seconds of silence, and that pass's time in ms. (At stop
    33 this was a slice of the states here; the same pass is now `SealModel.embed_read_and_encode`'s
    `silence_s`, equal to it to the last bit on the clips checked.)"""
    start = time.perf_counter()
    vectors, _readings, states = seal.embed_read_and_encode([audio], silence_s=pad_s)
    return vectors[0], states[0], (time.perf_counter() - start) * 1000


def collect(set_dir: str, limit: int, out: str, pads: tuple[float, ...], threads: int, first: int = 0) -> None:
    from clip_runs import open_clip_run

    run = open_clip_run(set_dir, out, threads)
    seal, side, rank = run.seal, run.side, run.rank

    with open(out, "a") as sink:
        for query, audio, seconds in run.clips(first, limit):
            row = {"id": query.id, "text": query.text, "group": f"{query.voice}|{getattr(query, 'condition', '')}"}
            for pad in pads:
                vector, states, encoder_ms = speech_frames(seal, audio, pad)
                start = time.perf_counter()
                words = side.decode_question(states, seconds)
                decoder_ms = (time.perf_counter() - start) * 1000
                searched = side.embed_text(words) if words else vector
                row[str(pad)] = {"words": words, "encoder_ms": encoder_ms, "decoder_ms": decoder_ms,
                                 "seal_rank": rank(vector, query.gold), "turn_rank": rank(searched, query.gold)}
            sink.write(json.dumps(row) + "\n")
            sink.flush()


def score(set_dir: str, out: str) -> None:
    from evaluation.evaluate import word_errors

    rows = [json.loads(line) for line in open(out)]
    pads = [k for k in rows[0] if k not in ("id", "text", "group")]
    print(f"{len(rows)} clips from {out}")
    print("pad_s  turn_top1  seal_top1  WER    unusable  encoder_ms_p50  decoder_ms_p50")
    for pad in pads:
        cells = [r[pad] for r in rows]
        errors = [word_errors(r["text"], r[pad]["words"]) for r in rows if r[pad]["words"]]
        wer = sum(e for e, _ in errors) / max(sum(n for _, n in errors), 1)
        print(f"{pad:5}  {np.mean([c['turn_rank'] == 1 for c in cells]):.3f}      "
              f"{np.mean([c['seal_rank'] == 1 for c in cells]):.3f}      {wer:.3f}  "
              f"{np.mean([not c['words'] for c in cells]):.3f}     "
              f"{np.median([c['encoder_ms'] for c in cells]):7.0f}        {np.median([c['decoder_ms'] for c in cells]):7.0f}")
    base = pads[0]
    for pad in pads[1:]:
        gained = sum(r[pad]["turn_rank"] == 1 and r[base]["turn_rank"] != 1 for r in rows)
        lost = sum(r[pad]["turn_rank"] != 1 and r[base]["turn_rank"] == 1 for r in rows)
        print(f"pad {pad} vs {base}: top-1 gained {gained}, lost {lost}")


if __name__ == "__main__":
    if sys.argv[1] == "--score":
        score(sys.argv[2], sys.argv[3])
    else:
        pads = tuple(float(p) for p in sys.argv[4].split(",")) if len(sys.argv) > 4 else PADS
        collect(sys.argv[1], int(sys.argv[2]), sys.argv[3], pads, int(sys.argv[5]) if len(sys.argv) > 5 else 2,
                int(sys.argv[6]) if len(sys.argv) > 6 else 0)
