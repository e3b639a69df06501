"""The status panel: which models, which device, where Chroma lives, whether the LLM answers."""
from __future__ import annotations

from rag_app.pipeline import Pipeline


def status_markdown(pipeline: Pipeline, settings) -> str:
    config = getattr(pipeline.seal, "config", None)
    llm = pipeline.llm
    llm_line = llm.health() if llm is not None else "none (retrieval only)"
    try:
        chunks = f"{pipeline.kb.collection.count()} chunks"
    except Exception as exc:  # noqa: BLE001 - a down Chroma server is a status to show
        chunks = f"unreachable ({type(exc).__name__})"
    chroma = f"server {settings.chroma_url}" if settings.chroma_url else f"embedded at {settings.chroma_dir}"
    asr = "available" if pipeline.transcriber is not None else "not loaded"
    return "\n".join([
        f"- **Device:** {getattr(pipeline.seal, 'device', 'cpu')}",
        f"- **SEAL:** Whisper `{getattr(config, 'whisper_name', '?')}` + text encoder `{getattr(config, 'text_encoder_name', '?')}`"
        f" ({getattr(config, 'length_adapter', '?')} adapter)",
        f"- **ASR baseline:** {asr}",
        f"- **Chroma:** {chroma}, collection `{settings.collection}`: {chunks}",
        f"- **LLM:** {llm_line}",
    ])
