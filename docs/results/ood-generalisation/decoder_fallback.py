"""When Whisper's decoder misreads SEAL's trimmed encoder states, would the padded ASR pass save the turn?

About one clip in ten on `heldout-nq` got a reading from the default turn's decoder (0.5 s of
silence after the trimmed speech) that was far from what the padded ASR pass heard: the question
said twice ("who made the song How far I'll go who made the son how"), a word stuttered ("Who play
d d d"), or cut short ("Name of"). Most ran into the token budget instead of ending. Per clip this
keeps (JSONL, resumable) the decoder's tokens-based signals (did it end with <|endoftext|>, its words
as a turn uses them), the padded ASR pass's words and time, and the gold rank of each search (decoder
words, SEAL's vector, ASR words), so any fallback rule can be scored afterwards without rerunning:

  python docs/results/ood-generalisation/decoder_fallback.py SET_DIR LIMIT OUT.jsonl [THREADS] [START]
  python docs/results/ood-generalisation/decoder_fallback.py --score OUT.jsonl[:PADDING.jsonl] ...

PADDING.jsonl (stop 33's `decoder_padding.py` output for the same clips) adds the cheaper second
chance: the encoder pass again with 2 s of silence and the decoder on it, instead of the ASR pass.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from rag_app.repeats import repeats_a_phrase  # the app's decoder_retry trigger uses the same test


def collect(set_dir: str, limit: int, out: str, threads: int, first: int = 0) -> None:
    from clip_runs import open_clip_run
    from rag_app.asr import token_budget, usable_reading
    from rag_app.sentences import first_sentence

    run = open_clip_run(set_dir, out, threads)
    seal, side, rank, transcriber = run.seal, run.side, run.rank, run.transcriber
    eos = transcriber.model.generation_config.eos_token_id

    with open(out, "a") as sink:
        for query, audio, seconds in run.clips(first, limit):
            start = time.perf_counter()
            vectors, _readings, states = seal.embed_read_and_encode([audio], silence_s=transcriber.silence_s)
            encoder_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            budget = token_budget(seconds)
            tokens = transcriber.greedy_tokens(states[0][None].to(transcriber.model.device, transcriber.model.dtype), budget)
            decoder_ms = (time.perf_counter() - start) * 1000
            raw = transcriber.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            first_part = first_sentence(raw)
            words = first_part if usable_reading(first_part, seconds) else ""
            start = time.perf_counter()
            asr_words = transcriber.transcribe(audio)
            asr_ms = (time.perf_counter() - start) * 1000
            row = {"id": query.id, "text": query.text, "group": f"{query.voice}|{getattr(query, 'condition', '')}",
                   "seconds": seconds, "raw": raw, "words": words, "ended": tokens[-1] == eos,
                   "new_tokens": len(tokens) - len(transcriber.prompt), "budget": budget, "asr": asr_words,
                   "encoder_ms": encoder_ms, "decoder_ms": decoder_ms, "asr_ms": asr_ms,
                   "seal_rank": rank(vectors[0], query.gold),
                   "turn_rank": rank(side.embed_text(words) if words else vectors[0], query.gold),
                   "asr_rank": rank(side.embed_text(asr_words), query.gold) if asr_words.strip() else 0}
            sink.write(json.dumps(row) + "\n")
            sink.flush()


def unfinished(row: dict) -> bool:
    """The decoder ran into its token budget before the question's first sentence ended (a reading
    that ends with "?" and then goes on is cut there, and is fine)."""
    from rag_app.sentences import first_sentence

    return not row["ended"] and first_sentence(row["raw"]) == row["raw"]


RULES = {
    "shipped (decoder; SEAL's vector when unusable)": lambda r: False,
    "ASR when unusable": lambda r: not r["words"],
    "ASR when unfinished or unusable": lambda r: unfinished(r) or not r["words"],
    "ASR when a phrase repeats or unusable": lambda r: repeats_a_phrase(r["words"]) or not r["words"],
    "ASR when unfinished, a phrase repeats or unusable": lambda r: unfinished(r) or repeats_a_phrase(r["words"]) or not r["words"],
    "ASR when not ended (EOS) at all": lambda r: not r["ended"],
    "ASR always": lambda r: True,
}


def _second_chances(rows: list[dict], padding: str, pad: str = "2.0") -> None:
    """Each row's `retry`: what the decoder read on a second encoder pass with `pad` s of silence."""
    by_id = {(r := json.loads(line))["id"]: r[pad] for line in open(padding)}
    for row in rows:
        again = by_id[row["id"]]
        row["retry"] = {"words": again["words"], "rank": again["turn_rank"],
                        "ms": again["encoder_ms"] + again["decoder_ms"]}


def score(outs: list[str]) -> None:
    from evaluation.evaluate import word_errors

    for spec in outs:
        out, _, padding = spec.partition(":")
        rows = [json.loads(line) for line in open(out)]
        rules = dict(RULES)
        if padding:
            _second_chances(rows, padding)
            rules["2 s silence pass when unfinished, repeats or unusable"] = rules[
                "ASR when unfinished, a phrase repeats or unusable"]
        print(f"\n{len(rows)} clips from {out}")
        print(f"{'rule':<52} top1   WER    fallback  turn_ms_p50  turn_ms_p90")
        for name, falls_back in rules.items():
            top1, errors, fallbacks, ms = [], [], 0, []
            retry = name.startswith("2 s")
            for r in rows:
                back = falls_back(r)
                fallbacks += back
                if back and retry:
                    rank, heard, extra = r["retry"]["rank"], r["retry"]["words"], r["retry"]["ms"]
                elif back:
                    rank, heard, extra = r["asr_rank"], r["asr"], r["asr_ms"]
                else:
                    rank, heard, extra = r["turn_rank"], r["words"], 0.0
                top1.append(rank == 1)
                if heard:
                    errors.append(word_errors(r["text"], heard))
                ms.append(r["encoder_ms"] + r["decoder_ms"] + extra)
            wer = sum(e for e, _ in errors) / max(sum(n for _, n in errors), 1)
            print(f"{name:<52} {np.mean(top1):.3f}  {wer:.3f}  {fallbacks / len(rows):.3f}     "
                  f"{np.percentile(ms, 50):7.0f}      {np.percentile(ms, 90):7.0f}")


if __name__ == "__main__":
    if sys.argv[1] == "--score":
        score(sys.argv[2:])
    else:
        collect(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2,
                int(sys.argv[5]) if len(sys.argv) > 5 else 0)
