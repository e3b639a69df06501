"""What Silero's import did to a turn: every stage on one torch thread (the process after
`import silero_vad`, before stop 35's fix) vs two (the machine's cores), per sample-KB question,
both in one process and interleaved so machine drift hits both alike: two passes over the
questions, each question on one thread in one pass and on two in the other (odd and even questions
swap), so the same prompt never comes twice in a row (the kept prompt cache would answer it at
once). Push-to-talk SEAL turns as `seal-rag bench turn` runs them.

  python docs/results/threads/silero_threads.py [QUESTIONS] [MAX_NEW_TOKENS]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def main(questions: int = 30, max_new_tokens: int = 8) -> None:
    from evaluation.bench import sample_kb_pipeline, sample_question_clips
    from rag_app.settings import load_settings
    from rag_app.trace import EventKind

    clips = sample_question_clips(questions + 1, "piper:joe")
    with sample_kb_pipeline(load_settings(), "silero-threads", max_new_tokens) as (pipeline, _rss):
        list(pipeline.answer(audio=clips[0], mode="seal"))  # warm-up
        rows: dict[int, list[dict[str, float]]] = {1: [{}] * questions, 2: [{}] * questions}
        for swap in (0, 1):
            for n, clip in enumerate(clips[1:]):
                threads = 1 + (n + swap) % 2
                torch.set_num_threads(threads)
                trace = [e.data for e in pipeline.answer(audio=clip, mode="seal") if e.kind == EventKind.TRACE][0]
                rows[threads][n] = {**trace.stages_ms, "turn_to_first_token": trace.first_token_ms}
    stages = ["vad", "speech_embedding", "question_text", "first_token", "turn_to_first_token"]
    print(f"{questions} questions, SEAL turns (question_text=decoder), p50 ms; ratio = 2 threads / 1, paired median")
    for stage in stages:
        one = np.array([r.get(stage, np.nan) for r in rows[1]])
        two = np.array([r.get(stage, np.nan) for r in rows[2]])
        print(f"  {stage:20s} 1 thread {np.nanmedian(one):6.0f}   2 threads {np.nanmedian(two):6.0f}   "
              f"ratio {np.nanmedian(two / one):.2f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
