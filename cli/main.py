"""`seal-rag`: the command line. A thin caller of the library; every subcommand here works."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.ask import ask_command
from cli.bench import bench_app
from cli.common import fail, settings_of
from cli.data import data_app
from cli.deploy import deploy_app
from cli.kb import ingest_command, kb_app
from cli.measure import compare_command, eval_command, report_command
from cli.models import models_app
from cli.serve import serve_command
from cli.train import ablate_command, ship_command, train_command
from rag_app.settings import apply_offline_environment, load_settings

apply_offline_environment()

app = typer.Typer(
    help="Spoken-question RAG with a SEAL speech-text embedding model.", no_args_is_help=True, add_completion=False
)
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


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Print the resolved settings (defaults <- config file <- SEAL_RAG_* <- flags)."""
    for name, value, help_text in settings_of(ctx).describe():
        typer.echo(f"{name:<15} {value:<45} {help_text}")


if __name__ == "__main__":
    app()
