"""The status panel: which models, which device, where Chroma lives, whether the LLM answers.

Server addresses and file-system paths are shown only to a signed-in user: the chat page is open
to anyone unless `ui_protect_chat` is on, and an address or a path tells a stranger where the
services live. `public` hides them in any text shown to everyone (the panel, and the chat's
notices, which name the LLM or Chroma server that failed).
"""
from __future__ import annotations

import re

from rag_app.pipeline import Pipeline
from rag_app.settings import Settings

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)\]}>,;'\"`]+", re.IGNORECASE)
_HOST_PORT = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):\d{2,5}\b", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w/.~])(?:~/|/)(?:[\w.@+-]+/)*[\w.@+-]+/?")


def public(text: str, settings: Settings) -> str:
    """`text` without the configured endpoints and folders, nor anything shaped like a URL,
    host:port or absolute path."""
    known = [settings.chroma_url, settings.llm_base_url, str(settings.chroma_dir), str(settings.home)]
    for value in sorted(filter(None, known), key=len, reverse=True):
        text = text.replace(value, "[hidden]")
    text = _URL.sub("[hidden]", text)
    text = _HOST_PORT.sub("[hidden]", text)
    return _PATH.sub("[hidden]", text)


def signed_in(request) -> bool:
    """Whether Gradio authenticated this request (it sets the user name only then)."""
    return bool(getattr(request, "username", None))


def status_markdown(pipeline: Pipeline, settings: Settings, reveal: bool = False) -> str:
    config = getattr(pipeline.seal, "config", None)
    llm = pipeline.llm
    llm_line = llm.health() if llm is not None else "none (retrieval only)"
    try:
        chunks = f"{pipeline.kb.collection.count()} chunks"
    except Exception as exc:  # noqa: BLE001 - a down Chroma server is a status to show
        chunks = f"unreachable ({type(exc).__name__})"
    chroma = f"server {settings.chroma_url}" if settings.chroma_url else f"embedded at {settings.chroma_dir}"
    asr = "available" if pipeline.transcriber is not None else "not loaded"
    text = "\n".join([
        f"- **Device:** {getattr(pipeline.seal, 'device', 'cpu')}",
        f"- **SEAL:** Whisper `{getattr(config, 'whisper_name', '?')}` + text encoder `{getattr(config, 'text_encoder_name', '?')}`"
        f" ({getattr(config, 'length_adapter', '?')} adapter)",
        f"- **ASR baseline:** {asr}",
        f"- **Chroma:** {chroma}, collection `{settings.collection}`: {chunks}",
        f"- **LLM:** {llm_line}",
    ])
    return text if reveal else public(text, settings) + "\n\n*Server addresses and paths are shown to signed-in users.*"
