"""`seal-rag serve`: the web app (chat page at /, knowledge base at /kb)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import settings_of, user_errors


def serve_command(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, help="Address to listen on (SEAL_RAG_UI_HOST); beyond localhost needs credentials."),
    port: Optional[int] = typer.Option(None, help="Port (SEAL_RAG_UI_PORT)."),
    concurrency: Optional[int] = typer.Option(None, help="Chat turns computed at once (SEAL_RAG_UI_CONCURRENCY)."),
    max_upload_mb: Optional[float] = typer.Option(None, help="Largest upload, MB (SEAL_RAG_UI_MAX_UPLOAD_MB)."),
    protect_chat: Optional[bool] = typer.Option(None, "--protect-chat/--open-chat", help="Credentials for the chat page too."),
    sample: Optional[Path] = typer.Option(None, help="Ingest this folder first when the knowledge base is empty."),
) -> None:
    """Start the web app. Credentials come from SEAL_RAG_UI_USER / SEAL_RAG_UI_PASSWORD (never flags)."""
    from rag_app.model_store import ModelNotAvailable
    from rag_app.wiring import build_pipeline
    from knowledge_base.store import KnowledgeBaseError
    from rag_app.settings import replace
    from rag_app.speak import SentenceVoice
    from ui.app import credentials, serve

    settings = settings_of(ctx)
    given = dict(ui_host=host, ui_port=port, ui_concurrency=concurrency, ui_max_upload_mb=max_upload_mb,
                 ui_protect_chat=protect_chat)
    settings = replace(settings, **{k: v for k, v in given.items() if v is not None})
    with user_errors(ValueError, ModelNotAvailable, KnowledgeBaseError):
        credentials(settings)
        pipeline = build_pipeline(settings, with_llm=True, with_asr=True)
        # first calls cost seconds (tens on a busy CPU): paid here, not by the first spoken reply
        pipeline.warm_up_llm()
        SentenceVoice().warm_up()
        if sample is not None and pipeline.kb.collection.count() == 0:
            typer.echo(f"empty knowledge base: ingesting {sample}")
            report = pipeline.kb.ingest([sample], glob="*.jsonl")
            typer.echo(f"  {report.chunks_added} chunks")
    typer.echo(f"seal-rag on http://{settings.ui_host}:{settings.ui_port}/  (knowledge base: /kb/)")
    serve(pipeline, settings)
