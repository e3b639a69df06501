"""`seal-rag bench ...`: throughput and latency figures, each measured within one run."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Optional

import typer

bench_app = typer.Typer(help="Benchmarks (print figures measured side by side in one run).", no_args_is_help=True)


def _write(path: Optional[Path], payload: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))


@bench_app.command("ingest")
def bench_ingest_command(
    ctx: typer.Context,
    passages: int = typer.Option(10_000, help="Corpus passages to ingest (each becomes >= 1 chunk)."),
    threads: int = typer.Option(0, help="torch threads (0 = default)."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Whole ingest path chunks/s vs the bare SEAL text tower on the same texts, and the ratio."""
    import torch

    from rag_app.bench import bench_ingest
    from rag_app.model_store import load_seal_model
    from seal_model.data.bigbench import build_corpus, read_jsonl

    settings = ctx.find_root().obj
    if threads:
        torch.set_num_threads(threads)
    build_corpus(settings.data_dir / "raw", settings.data_dir / "corpus")
    texts = [p["text"] for p in read_jsonl(settings.data_dir / "corpus" / "passages.jsonl")]
    texts = random.Random(0).sample(texts, min(passages, len(texts)))
    result = bench_ingest(load_seal_model(settings), texts, log=typer.echo)
    typer.echo(f"ingest path: {result['ingest_chunks_per_s']:.1f} chunks/s | text tower alone: "
               f"{result['encoder_chunks_per_s']:.1f} chunks/s | ratio {result['ratio']:.3f} ({result['chunks']} chunks)")
    _write(json_out, result)


@bench_app.command("search")
def bench_search_command(
    ctx: typer.Context,
    sizes: str = typer.Option("1000,10000,100000", help="Store sizes to measure."),
    queries: int = typer.Option(200),
    dim: int = typer.Option(384),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Vector-search latency p50/p95 at several store sizes (embedded Chroma, k=5)."""
    from rag_app.bench import bench_search

    rows = bench_search(dim, tuple(int(s) for s in sizes.split(",")), queries, log=typer.echo)
    _write(json_out, {"dim": dim, "rows": rows})
