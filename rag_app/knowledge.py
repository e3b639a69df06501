"""Wiring the knowledge base to the app's settings and the SEAL text tower."""
from __future__ import annotations

from knowledge_base.store import KnowledgeBase, open_client
from rag_app.settings import Settings


def open_knowledge_base(settings: Settings, seal=None, collection: str | None = None, check_embedder: bool = True) -> KnowledgeBase:
    """The configured Chroma collection, embedding with the SEAL text tower (loaded if not given)."""
    if seal is None:
        from rag_app.model_store import load_seal_model

        seal = load_seal_model(settings)
    client = open_client(settings.chroma_dir, settings.chroma_url)
    return KnowledgeBase(client, collection or settings.collection, seal, check_embedder=check_embedder,
                         keep_free_bytes=int(settings.chroma_keep_free_mb * 1e6))
