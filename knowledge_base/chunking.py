"""Chunking for the SEAL text tower.

all-MiniLM-L6-v2 was trained on inputs of at most 128 word pieces and truncates at 256; 600
characters of English prose is about 130-150 word pieces, so a chunk is embedded whole, near
the length the model knows best. 80 characters of overlap keeps a sentence cut at a boundary
findable from either side.
"""
from __future__ import annotations

import hashlib
from collections import Counter

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

CHUNK_SIZE = 600
CHUNK_OVERLAP = 80


def split_documents(documents: list[Document], chunk_size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[Document]:
    """Chunks with a stable id (hash of source + text + repeat count) and their index."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=overlap, keep_separator="end",
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
    )
    chunks = splitter.split_documents(documents)
    seen: Counter = Counter()
    per_source: Counter = Counter()
    for chunk in chunks:
        source = chunk.metadata["source"]
        text = chunk.page_content.strip()
        chunk.page_content = text
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        seen[(source, content_hash)] += 1
        key = f"{source}\n{content_hash}\n{seen[(source, content_hash)]}"
        chunk.id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        chunk.metadata["content_hash"] = content_hash[:16]
        chunk.metadata["chunk_index"] = per_source[source]
        per_source[source] += 1
    return [c for c in chunks if c.page_content]
