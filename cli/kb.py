"""`seal-rag ingest` and `seal-rag kb ...`: the knowledge base from the command line."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cli.common import settings_of, user_errors

kb_app = typer.Typer(help="Inspect and maintain the knowledge base.", no_args_is_help=True)


def _open(ctx: typer.Context, collection: Optional[str] = None, check_embedder: bool = True):
    from knowledge_base.store import KnowledgeBaseError
    from rag_app.knowledge import open_knowledge_base
    from rag_app.model_store import ModelNotAvailable

    with user_errors(KnowledgeBaseError, ModelNotAvailable):
        return open_knowledge_base(settings_of(ctx), collection=collection, check_embedder=check_embedder)


def _progress_bar(label: str):
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="chunk", total=0)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


def ingest_command(
    ctx: typer.Context,
    paths: List[Path] = typer.Argument(..., help="Files or folders (recursive)."),
    collection: Optional[str] = typer.Option(None, help="Collection (default from settings)."),
    glob: str = typer.Option("**/*", help="Filter for files inside folders."),
    text_field: str = typer.Option("text", help="Text field of .jsonl / .csv rows."),
) -> None:
    """Load, chunk, embed (SEAL text tower) and store documents; re-ingesting changes only what changed."""
    kb = _open(ctx, collection)
    bar, update = _progress_bar("embedding")
    report = kb.ingest(paths, glob=glob, text_field=text_field, progress=update)
    bar.close()
    typer.echo(f"{report.files} file(s): {report.chunks_added} chunks added, {report.chunks_removed} removed, "
               f"{report.chunks_unchanged} unchanged ({report.seconds:.1f} s)")
    for path, reason in report.errors.items():
        typer.secho(f"  skipped {path}: {reason}", fg=typer.colors.YELLOW, err=True)
    if report.errors and not report.files:
        raise typer.Exit(1)


@kb_app.command("list")
def kb_list(ctx: typer.Context, collection: Optional[str] = typer.Option(None)) -> None:
    """Sources in the knowledge base with chunk counts, size and ingest time."""
    for row in _open(ctx, collection).sources():
        typer.echo(f"{row['chunks']:>6} chunks  {row['size_bytes'] / 1024:>8.1f} KB  {row['ingested_at']}  {row['source']}")


@kb_app.command("stats")
def kb_stats(ctx: typer.Context, collection: Optional[str] = typer.Option(None)) -> None:
    """Collection size and the embedder it was built with."""
    for key, value in _open(ctx, collection).stats().items():
        typer.echo(f"{key:<11} {value}")


@kb_app.command("delete")
def kb_delete(ctx: typer.Context, source: str = typer.Argument(..., help="Path or file name of a source."),
              collection: Optional[str] = typer.Option(None)) -> None:
    """Remove every chunk of a source."""
    removed = _open(ctx, collection).delete_source(source)
    if not removed:
        typer.secho(f"no source matching {source!r} (see `seal-rag kb list`)", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {removed} chunks of {source}")


@kb_app.command("reindex")
def kb_reindex(ctx: typer.Context, collection: Optional[str] = typer.Option(None)) -> None:
    """Re-embed every stored chunk with the current model (after changing the SEAL checkpoint)."""
    kb = _open(ctx, collection, check_embedder=False)
    bar, update = _progress_bar("re-embedding")
    count = kb.reindex(progress=update)
    bar.close()
    typer.echo(f"re-embedded {count} chunks with {kb.embedder.text_fingerprint}")


@kb_app.command("search")
def kb_search(ctx: typer.Context, text: str = typer.Argument(...), k: int = typer.Option(5),
              collection: Optional[str] = typer.Option(None)) -> None:
    """What is stored: passages holding the exact text first (a "quoted phrase": only those), then by meaning."""
    for n, passage in enumerate(_open(ctx, collection).find(text, k), 1):
        name = passage.metadata.get("source_name", passage.metadata.get("source", ""))
        page = f" p.{passage.metadata['page']}" if "page" in passage.metadata else ""
        typer.echo(f"[{n}] {passage.score:.3f} {name}{page}: {passage.text[:160].replace(chr(10), ' ')}")
