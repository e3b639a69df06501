"""The web app: the chat page at `/` and the knowledge-base page at `/kb`, two Gradio apps on one
server sharing one pipeline (models load once, every user shares them).

Two apps rather than two tabs because the pages need different access: the knowledge-base page
can change what everyone is answered from, so it requires credentials whenever any are set, and
listening beyond localhost without them is refused; the chat page asks for them only when
`ui_protect_chat` is on.
"""
from __future__ import annotations

import gradio as gr

from rag_app.pipeline import Pipeline
from rag_app.settings import Settings
from ui.chat import build_chat_page
from ui.knowledge import build_knowledge_page
from ui.ops import add_ops_routes

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
KB_PATH = "/kb"


def credentials(settings: Settings) -> tuple[str, str] | None:
    if bool(settings.ui_user) != bool(settings.ui_password):
        raise ValueError("set both SEAL_RAG_UI_USER and SEAL_RAG_UI_PASSWORD, or neither")
    if settings.ui_user:
        return settings.ui_user, settings.ui_password
    if settings.ui_host not in LOCAL_HOSTS:
        raise ValueError(
            f"listening on {settings.ui_host} exposes the knowledge-base page: set SEAL_RAG_UI_USER and "
            "SEAL_RAG_UI_PASSWORD (or keep --host 127.0.0.1)"
        )
    if settings.ui_protect_chat:
        raise ValueError("ui_protect_chat needs SEAL_RAG_UI_USER and SEAL_RAG_UI_PASSWORD")
    return None


def create_app(pipeline: Pipeline, settings: Settings):
    """A FastAPI app serving both pages; run it with uvicorn (see `serve`)."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    login = credentials(settings)
    chat = build_chat_page(pipeline, settings).queue(
        default_concurrency_limit=settings.ui_concurrency, max_size=settings.ui_queue_size
    )
    knowledge = build_knowledge_page(pipeline.kb, settings.ui_max_upload_mb, settings.ui_upload_max_age_s).queue(max_size=settings.ui_queue_size)
    app = FastAPI(title="seal-rag")
    limit = int(settings.ui_max_upload_mb * 1024 * 1024)  # bytes
    add_ops_routes(app, pipeline, {"chat": chat, "kb": knowledge})  # /metrics, /healthz: before the mount at /

    @app.get("/kb", include_in_schema=False)
    def kb_slash() -> RedirectResponse:
        return RedirectResponse(KB_PATH + "/")

    app = gr.mount_gradio_app(app, knowledge, path=KB_PATH, auth=login, max_file_size=limit,
                              auth_message="The knowledge-base page needs the operator's credentials.")
    app = gr.mount_gradio_app(app, chat, path="/", auth=login if settings.ui_protect_chat else None, max_file_size=limit)
    return app


def serve(pipeline: Pipeline, settings: Settings) -> None:
    import uvicorn

    app = create_app(pipeline, settings)
    uvicorn.run(app, host=settings.ui_host, port=settings.ui_port, log_level="warning")
