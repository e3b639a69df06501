"""What the per-clip experiment scripts here share: the shipped models on an eval set, a gold-rank
search over its passages, and which clips an interrupted run already wrote (their JSONL is resumable)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@dataclass
class ClipRun:
    eval_set: Any  # seal_model.data.eval_set.EvalSet
    seal: Any  # the shipped SealModel
    transcriber: Any  # the shipped WhisperTranscriber
    side: Any  # rag_app.query.QuerySide over both
    index: Any  # the set's passages, searched as a turn searches them
    done: set[str]  # clip ids already in the output file

    def clips(self, first: int, limit: int) -> Iterator[tuple[Any, np.ndarray, float]]:
        """(query, trimmed audio, seconds) of clips `first`..`first + limit` the output lacks."""
        from seal_model.audio import SAMPLE_RATE

        for query in self.eval_set.queries[first:first + limit]:
            if query.id not in self.done:
                audio = self.side.decode(query.audio)
                yield query, audio, len(audio) / SAMPLE_RATE

    def rank(self, vector: np.ndarray, gold: list[str]) -> int:
        """The gold passage's rank in the search for `vector` (1 = first; 0 = not found)."""
        ranked = self.index.search(vector[None])[0]
        return next((n for n, pid in enumerate(ranked, 1) if pid in gold), 0)


def open_clip_run(set_dir: str, out: str, threads: int) -> ClipRun:
    import torch

    torch.set_num_threads(threads)
    from evaluation.evaluate import passage_index
    from rag_app.model_store import load_seal_model
    from rag_app.query import QuerySide
    from rag_app.settings import load_settings
    from rag_app.wiring import make_transcriber
    from seal_model.data.eval_set import load_eval_set

    settings = load_settings()
    eval_set = load_eval_set(set_dir)
    seal = load_seal_model(settings)
    transcriber = make_transcriber(settings)
    done = {json.loads(line)["id"] for line in open(out)} if Path(out).is_file() else set()
    return ClipRun(eval_set, seal, transcriber, QuerySide(seal, transcriber), passage_index(eval_set, seal), done)
