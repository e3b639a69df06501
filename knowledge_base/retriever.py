"""`SealRetriever`: a LangChain retriever over the knowledge base, for text or spoken queries."""
from __future__ import annotations

from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from knowledge_base.store import KnowledgeBase, Passage


def to_document(passage: Passage) -> Document:
    return Document(page_content=passage.text, id=passage.id, metadata={**passage.metadata, "score": passage.score})


class SealRetriever(BaseRetriever):
    """`invoke("text")` embeds with the text tower; `invoke(waveform)` (16 kHz float array)
    embeds the speech directly with the SEAL speech tower, with no transcription."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge_base: KnowledgeBase
    speech_model: Any = None  # SealModel, needed for audio queries
    k: int = 5

    def _get_relevant_documents(self, query: Any, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if isinstance(query, np.ndarray):
            if self.speech_model is None:
                raise ValueError("audio queries need the SEAL speech model (speech_model=...)")
            vector = self.speech_model.embed_speech([query])[0]
            return [to_document(p) for p in self.knowledge_base.search(vector, self.k)]
        return [to_document(p) for p in self.knowledge_base.search_text(str(query), self.k)]
