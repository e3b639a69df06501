"""`seal-rag`: the command line. A thin caller of the library; every subcommand here works."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rag_app.commands_ask import ask_command
from rag_app.commands_bench import bench_app
from rag_app.commands_data import data_app
from rag_app.commands_deploy import deploy_app
from rag_app.commands_kb import ingest_command, kb_app
from rag_app.commands_model import compare_command, eval_command, ship_command, train_command
from rag_app.commands_serve import serve_command
from rag_app.commands_report import ablate_command, report_command
from rag_app.settings import Settings, apply_offline_environment, load_settings

apply_offline_environment()

app = typer.Typer(
    help="Spoken-question RAG with a SEAL speech-text embedding model.", no_args_is_help=True, add_completion=False
)
models_app = typer.Typer(help="The embedded default models (built from PyPI packages).", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.command("ask")(ask_command)
app.command("ingest")(ingest_command)
app.add_typer(kb_app, name="kb")
app.command("train")(train_command)
app.add_typer(bench_app, name="bench")
app.command("eval")(eval_command)
app.command("compare")(compare_command)
app.command("ship")(ship_command)
app.command("serve")(serve_command)
app.command("report")(report_command)
app.command("ablate")(ablate_command)
app.add_typer(deploy_app, name="deploy")


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def main(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, help="TOML config file (also SEAL_RAG_CONFIG)."),
    home: Optional[Path] = typer.Option(None, help="Cache/data folder (SEAL_RAG_HOME)."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda (SEAL_RAG_DEVICE)."),
    whisper: Optional[str] = typer.Option(None, help="'base', 'tiny.en' or a local HF Whisper folder."),
    text_encoder: Optional[str] = typer.Option(None, help="'all-MiniLM-L6-v2' or a local HF folder."),
    llm: Optional[str] = typer.Option(None, help="'smollm2' or a local HF causal-LM folder."),
    chroma_url: Optional[str] = typer.Option(None, help="Chroma server URL (client/server mode)."),
    llm_base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible LLM server URL (vLLM)."),
    llm_model: Optional[str] = typer.Option(None, help="Model name on the LLM server."),
) -> None:
    overrides = dict(
        home=home, device=device, whisper=whisper, text_encoder=text_encoder, llm=llm,
        chroma_url=chroma_url, llm_base_url=llm_base_url, llm_model=llm_model,
    )
    try:
        ctx.obj = load_settings(config, overrides)
    except ValueError as exc:
        fail(str(exc), 2)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Print the resolved settings (defaults <- config file <- SEAL_RAG_* <- flags)."""
    for name, value, help_text in settings_of(ctx).describe():
        typer.echo(f"{name:<15} {value:<45} {help_text}")


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


if __name__ == "__main__":
    app()
