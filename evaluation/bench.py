"""Benchmarks (commands, not timed tests): figures measured side by side in one run."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from knowledge_base import SAMPLE_KB, SAMPLE_QUESTIONS
from knowledge_base.chunking import split_documents
from knowledge_base.loaders import load_paths
from knowledge_base.store import KnowledgeBase, open_client
from evaluation.latency import percentiles
from rag_app.trace import SPEECH_TO_PASSAGES, TOTAL, TURN_TO_FIRST_TOKEN, EventKind
from seal_model.jsonl import read_jsonl


def _write_corpus(passages: list[str], folder: Path, per_file: int = 500) -> list[Path]:
    files = []
    for n, start in enumerate(range(0, len(passages), per_file)):
        path = folder / f"part{n:03d}.jsonl"
        with open(path, "w") as fh:
            for text in passages[start : start + per_file]:
                fh.write(json.dumps({"text": text}) + "\n")
        files.append(path)
    return files


def bench_ingest(embedder, passages: list[str], batch_size: int = 256, log: Callable[[str], None] = print) -> dict:
    """Chunks/s through the whole ingest path (load, chunk, hash, embed, store in Chroma) next
    to the bare text tower on the same chunk texts, measured in the same process."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        _write_corpus(passages, folder)
        chunk_texts = [c.page_content for c in split_documents(load_paths([folder]).documents)]
        log(f"{len(passages)} passages -> {len(chunk_texts)} chunks")
        embedder.embed_text(chunk_texts[:64])  # warm-up, so neither side pays first-call costs

        start = time.perf_counter()
        for k in range(0, len(chunk_texts), batch_size):
            embedder.embed_text(chunk_texts[k : k + batch_size])
        encoder_s = time.perf_counter() - start

        kb = KnowledgeBase(open_client(Path(tmp) / "chroma"), "bench", embedder, batch_size=batch_size)
        start = time.perf_counter()
        report = kb.ingest([folder])
        ingest_s = time.perf_counter() - start
    result = {
        "chunks": report.chunks_added,
        "ingest_chunks_per_s": report.chunks_added / ingest_s,
        "encoder_chunks_per_s": len(chunk_texts) / encoder_s,
    }
    result["ratio"] = result["ingest_chunks_per_s"] / result["encoder_chunks_per_s"]
    return result


def bench_search(dim: int, sizes: tuple[int, ...] = (1_000, 10_000, 100_000), queries: int = 200, seed: int = 0,
                 log: Callable[[str], None] = print) -> list[dict]:
    """Query latency (p50/p95, k=5) of the embedded Chroma store at several sizes.

    Vectors are random unit vectors: HNSW cost depends on count and dimension, not meaning."""
    import chromadb

    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.create_collection("bench", embedding_function=None, metadata={"hnsw:space": "cosine"})
        step = min(client.get_max_batch_size(), 5000)
        stored = 0
        for size in sizes:
            while stored < size:
                n = min(step, size - stored)
                vectors = rng.standard_normal((n, dim)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                collection.add(ids=[f"v{stored + i}" for i in range(n)], embeddings=vectors,
                               documents=[f"passage {stored + i}" for i in range(n)])
                stored += n
            probes = rng.standard_normal((queries, dim)).astype(np.float32)
            probes /= np.linalg.norm(probes, axis=1, keepdims=True)
            collection.query(query_embeddings=probes[:1], n_results=5)
            times = []
            for probe in probes:
                start = time.perf_counter()
                collection.query(query_embeddings=probe[None], n_results=5, include=["documents", "distances"])
                times.append((time.perf_counter() - start) * 1000)
            row = {"vectors": size, **percentiles(times)}
            log(f"{size:>7} vectors: p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms")
            rows.append(row)
    return rows




def sample_question_clips(count: int, voice: str) -> list[np.ndarray]:
    """The first `count` sample-KB questions, spoken by `voice`."""
    from seal_model.voices import synthesize

    rows = read_jsonl(SAMPLE_QUESTIONS)[:count]
    return [synthesize(voice, row["question"]) for row in rows]


@contextmanager
def sample_kb_pipeline(settings, collection: str, max_new_tokens: int, with_llm: bool = True) -> Iterator[tuple]:
    """(pipeline, peak RSS in MB once its models are loaded) over the sample KB in a throwaway Chroma."""
    import resource

    from rag_app.settings import replace
    from rag_app.wiring import build_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(settings, chroma_path=Path(tmp), chroma_url="", collection=collection,
                           max_new_tokens=max_new_tokens)
        pipeline = build_pipeline(settings, with_llm=with_llm, with_asr=True)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pipeline.kb.ingest([SAMPLE_KB], glob="*.jsonl")
        yield pipeline, peak_rss_mb


def bench_turn(pipeline, clips: list[np.ndarray], log: Callable[[str], None] = print, generate: bool = True) -> dict:
    """Whole spoken turns, SEAL and ASR on the same clips in the same run (alternating which mode
    goes first, so neither gets the warm caches): per-stage p50/p95 and the speech->passages ratio."""
    stages: dict[str, dict[str, list[float]]] = {"seal": {}, "asr": {}}
    speech_to_passages: dict[str, list[float]] = {"seal": [], "asr": []}
    for n, clip in enumerate(clips):
        order = ("seal", "asr") if n % 2 == 0 else ("asr", "seal")
        for mode in order:
            trace = None
            for event in pipeline.answer(audio=clip, mode=mode, generate=generate):
                if event.kind == EventKind.TRACE:
                    trace = event.data
            for stage, ms in trace.stages_ms.items():
                stages[mode].setdefault(stage, []).append(ms)
            stages[mode].setdefault(TOTAL, []).append(trace.total_ms)
            if trace.first_token_ms is not None:  # from the start of the turn: what a user waits for
                stages[mode].setdefault(TURN_TO_FIRST_TOKEN, []).append(trace.first_token_ms)
            speech_to_passages[mode].append(sum(trace.stages_ms.get(s, 0.0) for s in SPEECH_TO_PASSAGES[mode]))
        if (n + 1) % 10 == 0:
            log(f"{n + 1}/{len(clips)} questions")

    def summary(values: list[float]) -> dict:
        return {**percentiles(values), "n": len(values)}

    result = {
        "questions": len(clips),
        "stages": {mode: {stage: summary(v) for stage, v in by_stage.items()} for mode, by_stage in stages.items()},
        "speech_to_passages": {mode: summary(v) for mode, v in speech_to_passages.items()},
    }
    result["ratio_p50"] = result["speech_to_passages"]["seal"]["p50_ms"] / result["speech_to_passages"]["asr"]["p50_ms"]
    return result
