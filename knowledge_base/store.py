"""The knowledge base on ChromaDB: embedded (PersistentClient) or client/server (HttpClient).

We always hand Chroma our own vectors (given documents alone it would try to download an
embedding model). The collection records the embedder's fingerprint and dimension; opening
it with another embedder is refused with a message naming `seal-rag kb reindex`, because
vectors from two towers do not share a space and search would silently return noise.

Faults (`knowledge_base.faults`, `knowledge_base.journal`): a server that goes away is a
`StoreUnavailable` message and the collection is reopened on the next call; a write that would
fill the disk is refused first (embedded Chroma hangs on a full disk); an ingest killed part way
is finished or undone by the next open.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol
from urllib.parse import urlparse

import numpy as np
from langchain_core.documents import Document

from knowledge_base.chunking import split_documents
from knowledge_base.faults import (DISK_BYTES_PER_BYTE, EmbedderMismatch, KnowledgeBaseError, StoreFull, StoreUnavailable,
                                   check_free_space, chunk_bytes, missing_collection, unreachable)
from knowledge_base.journal import IngestJournal
from knowledge_base.loaders import load_paths

__all__ = ["EmbedderMismatch", "IngestReport", "KnowledgeBase", "KnowledgeBaseError", "Passage", "StoreFull",
           "StoreUnavailable", "open_client"]

Progress = Callable[[int, int], None]  # (done, total)


class Embedder(Protocol):
    """The text side of the SEAL model (or anything with the same contract)."""

    text_fingerprint: str
    dim: int

    def embed_text(self, texts: list[str]) -> np.ndarray: ...


def open_client(chroma_dir: Path, chroma_url: str = ""):
    """PersistentClient under chroma_dir, or HttpClient when a server URL is configured."""
    import chromadb

    settings = chromadb.Settings(anonymized_telemetry=False)
    if not chroma_url:
        chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(chroma_dir), settings=settings)
    url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1", port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", settings=settings,
        )
        client.heartbeat()
    except Exception as exc:  # chromadb raises several types for a dead server
        raise KnowledgeBaseError(f"cannot reach the Chroma server at {chroma_url} ({exc.__class__.__name__}); "
                                 "is `chroma run` up, and is SEAL_RAG_CHROMA_URL right?") from exc
    return client


@dataclass
class Passage:
    id: str
    text: str
    score: float  # cosine similarity
    metadata: dict
    exact: bool = False  # found by its exact text (`KnowledgeBase.find`), not only by meaning


@dataclass
class IngestReport:
    files: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class KnowledgeBase:
    def __init__(self, client, collection: str, embedder: Embedder, check_embedder: bool = True,
                 batch_size: int = 256, max_file_bytes: int = 50_000_000, keep_free_bytes: int = 100_000_000):
        self.client = client
        self.name = collection
        self.embedder = embedder
        self.batch_size = min(batch_size, client.get_max_batch_size())
        self.max_file_bytes = max_file_bytes
        chroma = client.get_settings()
        # embedded: the folder whose disk must not fill; server: the URL that messages name
        self.disk = Path(chroma.persist_directory) if chroma.is_persistent else None
        self.location = ("the knowledge base" if self.disk else
                         f"the Chroma server at {chroma.chroma_server_host}:{chroma.chroma_server_http_port}")
        self.keep_free_bytes = keep_free_bytes
        self.journal = IngestJournal(client, collection)
        self._lost = False  # the last call found the server gone: reopen before the next one
        self.collection = self._open(collection, check_embedder)

    @contextmanager
    def _store(self, doing: str) -> Iterator[None]:
        """Chroma calls as a user sees them: a server that is down or lost the collection is a
        `StoreUnavailable` naming what failed, and the next call reopens the collection."""
        try:
            if self._lost:
                self.collection = self.client.get_collection(self.name, embedding_function=None)
                self.journal = IngestJournal(self.client, self.name)  # its collection handle may be stale too
                self._lost = False
            yield
        except KnowledgeBaseError:
            raise
        except Exception as exc:
            if not (unreachable(exc) or missing_collection(exc)):
                raise
            self._lost = True
            gone = ("is not answering" if unreachable(exc) else f"no longer holds the collection '{self.name}'")
            raise StoreUnavailable(f"could not {doing}: {self.location} {gone} ({type(exc).__name__}); "
                                   "try again once it is back (nothing needs restarting)") from exc

    def _metadata(self) -> dict:  # HNSW denser than Chroma's default: README, "Knowledge base"
        return {"hnsw:space": "cosine", "hnsw:M": 32, "hnsw:construction_ef": 200, "hnsw:search_ef": 200,
                "embedder": self.embedder.text_fingerprint, "dim": int(self.embedder.dim)}

    def _open(self, name: str, check: bool):
        self._finish_interrupted_reindex()  # before get_or_create, which would make an empty NAME
        metadata = self._metadata()
        collection = self.client.get_or_create_collection(name, embedding_function=None, metadata=metadata)
        stored = collection.metadata or {}
        if check and (stored.get("embedder") != metadata["embedder"] or stored.get("dim") != metadata["dim"]):
            raise EmbedderMismatch(
                f"collection '{name}' was embedded with another model (fingerprint {stored.get('embedder')}, "
                f"dim {stored.get('dim')}; now {metadata['embedder']}, dim {metadata['dim']}). "
                f"Run `seal-rag kb reindex` to re-embed it with the current model."
            )
        try:
            self._recover(collection)
        except StoreFull:
            pass  # opening only reads; the next ingest settles the journal once there is room
        return collection

    def _check_disk(self, needed_bytes: int) -> None:
        """Before any write to embedded Chroma, which hangs on a full disk instead of failing."""
        if self.disk is not None:
            check_free_space(self.disk, needed_bytes, self.keep_free_bytes)

    def _recover(self, collection) -> None:
        """Finish or undo what a killed ingest left (`knowledge_base.journal`)."""
        self._check_disk(0)
        self.journal.recover(collection)

    # ----- writing ----------------------------------------------------------------------
    def _existing_ids(self, source: str) -> set[str]:
        return set(self.collection.get(where={"source": source}, include=[])["ids"])

    def _earlier_uploads(self, path: Path) -> set[str]:
        """Chunks of this file name stored by the page before uploads were keyed by name: their
        source is another temp folder beside this upload's (gradio keeps one folder per upload)."""
        uploads = path.resolve().parent.parent
        rows = self.collection.get(where={"source_name": path.name}, include=["metadatas"])
        return {cid for cid, meta in zip(rows["ids"], rows["metadatas"])
                if Path(meta["source"]).parent.parent == uploads}

    def _add(self, chunks: list[Document], progress: Progress | None = None, done: int = 0, total: int = 0) -> None:
        for start in range(0, len(chunks), self.batch_size):
            batch = chunks[start : start + self.batch_size]
            self._check_disk(chunk_bytes(int(self.embedder.dim), [c.page_content for c in batch], [c.metadata for c in batch]))
            vectors = self.embedder.embed_text([c.page_content for c in batch])
            self.collection.upsert(
                ids=[c.id for c in batch], embeddings=vectors, documents=[c.page_content for c in batch],
                metadatas=[c.metadata for c in batch],
            )
            if progress:
                progress(done + start + len(batch), total)

    def _by_source(self, documents: list[Document], by_name: bool, errors: dict[str, str]) -> dict[str, tuple[str, list[Document]]]:
        """Documents grouped under their source key: the file name for uploads (each arrives in a
        new temp folder, so only the name says it is the same document again), else the resolved path."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        groups: dict[str, tuple[str, list[Document]]] = {}
        for doc in documents:
            path = Path(doc.metadata["source"])
            key = path.name if by_name else str(path.resolve())
            if key in groups and groups[key][0] != str(path):
                errors[str(path)] = f"another file in this batch has the same name ({groups[key][0]}); upload it on its own"
                continue
            doc.metadata.update(source=key, source_name=path.name, ingested_at=now, size_bytes=path.stat().st_size)
            groups.setdefault(key, (str(path), []))[1].append(doc)
        return groups

    def ingest(self, paths: Iterable[str | Path], glob: str = "**/*", text_field: str = "text",
               progress: Progress | None = None, by_name: bool = False) -> IngestReport:
        """Store each file's chunks under its source key, replacing what that source held before.

        `by_name=True` keys sources by file name (uploads), else by path. New chunks are added
        first, then the changed source's stale ones dropped, journalled per source so a run
        killed in between is finished or undone by the next open (`knowledge_base.journal`), and
        a rerun ends with exactly the chunks of a clean run (ids are content hashes). A file that
        fails to load, chunk or store is named in `errors` and costs only itself; a store that
        goes away or a disk that would fill stops the batch with a `KnowledgeBaseError` saying
        what was stored.
        """
        started = time.perf_counter()
        loaded = load_paths(paths, glob, text_field, self.max_file_bytes)
        report = IngestReport(errors=dict(loaded.errors))
        try:
            with self._store("ingest"):
                self._recover(self.collection)
                plan = self._plan(loaded.documents, by_name, report)
                changes = {key: ([c.id for c in new], sorted(stale)) for key, _, new, stale in plan if new or stale}
                self._check_disk(len(str(changes)) * DISK_BYTES_PER_BYTE)
                self.journal.begin(changes)
                stored = False
                try:
                    total, done = sum(len(new) for _, _, new, _ in plan), 0
                    for key, path, new, stale in plan:
                        self._store_source(path, new, stale, report, progress, done, total)
                        done += len(new)
                    stored = True
                finally:
                    self.journal.end(list(changes), stored)
        except KnowledgeBaseError as exc:
            raise type(exc)(f"{exc} Before it stopped, {report.files} file(s) were stored; the others were not "
                            "changed.") from exc
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, documents: list[Document], by_name: bool, report: IngestReport) -> list[tuple[str, str, list, set]]:
        """(source key, path, new chunks, stale ids) per source."""
        plan = []
        for key, (path, docs) in self._by_source(documents, by_name, report.errors).items():
            try:
                chunks = split_documents(docs)
                existing = self._existing_ids(key) | (self._earlier_uploads(Path(path)) if by_name else set())
            except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the batch
                if unreachable(exc) or missing_collection(exc):
                    raise
                report.errors[path] = f"could not chunk this file ({exc.__class__.__name__}: {str(exc)[:200]})"
                continue
            new = [c for c in chunks if c.id not in existing]
            plan.append((key, path, new, existing - {c.id for c in chunks}))
            report.chunks_unchanged += len(chunks) - len(new)
        return plan

    def _store_source(self, path: str, new: list[Document], stale: set[str], report: IngestReport,
                      progress: Progress | None, done: int, total: int) -> None:
        try:
            self._add(new, progress, done, total)
        except Exception as exc:  # noqa: BLE001 - embedder or store refused this file's chunks
            self._forget([c.id for c in new])  # if this fails too, the journal undoes it on the next open
            if isinstance(exc, KnowledgeBaseError) or unreachable(exc) or missing_collection(exc):
                raise  # the store itself failed: every file after this one would too
            report.errors[path] = f"could not store this file ({exc.__class__.__name__}: {str(exc)[:200]})"
            return
        if stale:
            self.collection.delete(ids=sorted(stale))
        report.chunks_added += len(new)
        report.chunks_removed += len(stale)
        report.files += 1

    def _forget(self, ids: list[str]) -> None:
        """Undo a file's partial add, so a failed file leaves what it had before, not a mix."""
        try:
            if ids:
                self.collection.delete(ids=ids)
        except Exception:  # noqa: BLE001 - best effort; the journal settles it on the next open
            pass

    def delete_source(self, source: str) -> int:
        """Remove a source: by its exact key (an upload's file name or a path), else by resolved
        path, else every source with that file name. Returns the chunks removed."""
        with self._store(f"delete {source}"):
            self._check_disk(0)
            for where in ({"source": source}, {"source": str(Path(source).resolve())}, {"source_name": source}):
                ids = self.collection.get(where=where, include=[])["ids"]
                if ids:
                    self.collection.delete(ids=sorted(ids))
                    return len(ids)
        return 0

    def reindex(self, progress: Progress | None = None) -> int:
        """Re-embed every stored chunk with the current embedder (after a model change).

        Builds `NAME-reindex` from the stored texts and metadata while NAME keeps serving, then
        swaps by renames: NAME -> NAME-previous, NAME-reindex -> NAME, and only then deletes
        NAME-previous. Chroma has no atomic rename-over, so a kill between the two renames leaves
        no NAME for a moment; `_finish_interrupted_reindex` (run on every open) completes or
        undoes the swap, so a kill at any point loses nothing and the KB is never left empty.
        """
        self._finish_interrupted_reindex()
        old = self.client.get_collection(self.name, embedding_function=None)
        building, previous = self._swap_names()
        try:
            self.client.delete_collection(building)  # a reindex killed earlier, half built
        except Exception:  # noqa: BLE001 - usually there is none
            pass
        temp = self.client.create_collection(building, embedding_function=None, metadata=self._metadata())
        total, done = old.count(), 0
        for offset in range(0, total, self.batch_size):
            rows = old.get(include=["documents", "metadatas"], limit=self.batch_size, offset=offset)
            self._check_disk(chunk_bytes(int(self.embedder.dim), rows["documents"], rows["metadatas"]))
            vectors = self.embedder.embed_text(rows["documents"])
            temp.upsert(ids=rows["ids"], embeddings=vectors, documents=rows["documents"], metadatas=rows["metadatas"])
            done += len(rows["ids"])
            if progress:
                progress(done, total)
        old.modify(name=previous)
        temp.modify(name=self.name)
        self.client.delete_collection(previous)
        self.collection = self.client.get_collection(self.name, embedding_function=None)
        return done

    def _swap_names(self) -> tuple[str, str]:
        return f"{self.name}-reindex", f"{self.name}-previous"

    def _finish_interrupted_reindex(self) -> None:
        """Complete or undo a swap a killed `reindex` left half done (see there)."""
        building, previous = self._swap_names()
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        if previous not in names:
            return  # no swap was under way: a half-built NAME-reindex is dropped by the next reindex
        if self.name not in names:  # killed between the two renames
            complete = building in names and (
                self.client.get_collection(building, embedding_function=None).count()
                == self.client.get_collection(previous, embedding_function=None).count())
            self.client.get_collection(building if complete else previous, embedding_function=None).modify(name=self.name)
        self.client.delete_collection(previous)  # the swap is done: the old vectors go

    # ----- reading ----------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int = 5) -> list[Passage]:
        with self._store("search the knowledge base"):
            if self.collection.count() == 0:
                return []
            result = self.collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1), n_results=k,
                include=["documents", "metadatas", "distances"],
            )
        return [
            Passage(pid, text, 1.0 - float(dist), meta or {})
            for pid, text, meta, dist in zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        ]

    def search_text(self, text: str, k: int = 5) -> list[Passage]:
        return self.search(self.embedder.embed_text([text])[0], k)

    def find(self, query: str, k: int = 5) -> list[Passage]:
        """The search box: passages holding the exact text first, then the closest in meaning.

        Meaning search alone could not find a rare name or a quoted phrase (the embedding of
        "Zorblax" is near nothing in particular). `"a quoted phrase"` returns exact matches
        only; unquoted text returns its exact matches (as typed, lower case, Title Case, UPPER)
        ranked by similarity, then meaning matches. Exact ones are marked `exact=True`.
        """
        query = query.strip()
        quoted = len(query) > 2 and query[0] in "\"“" and query[-1] in "\"”"
        text = query[1:-1].strip() if quoted else query
        vector = self.embedder.embed_text([text])[0]
        exact = self._containing(text, vector, k)
        if quoted:
            return exact
        seen = {p.id for p in exact}
        return (exact + [p for p in self.search(vector, k) if p.id not in seen])[:k]

    def _containing(self, text: str, vector: np.ndarray, k: int, scan: int = 500) -> list[Passage]:
        """Up to k chunks whose text contains `text` (Chroma's `$contains`, which is case-sensitive:
        a few spellings are tried), the `scan` first found ranked by cosine similarity to it."""
        spellings = list(dict.fromkeys([text, text.lower(), text.title(), text.upper()]))
        where = {"$or": [{"$contains": s} for s in spellings]} if len(spellings) > 1 else {"$contains": spellings[0]}
        with self._store("search the knowledge base"):
            rows = self.collection.get(where_document=where, limit=scan, include=["documents", "metadatas", "embeddings"])
        if not rows["ids"]:
            return []
        scores = np.asarray(rows["embeddings"], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        ranked = sorted(zip(scores, rows["ids"], rows["documents"], rows["metadatas"]), key=lambda row: -row[0])[:k]
        return [Passage(pid, doc, float(score), meta or {}, exact=True) for score, pid, doc, meta in ranked]

    def sources(self) -> list[dict]:
        """One row per source: chunks, size, title, ingest time."""
        rows: dict[str, dict] = {}
        with self._store("list the sources"):
            total = self.collection.count()
            batches = [self.collection.get(include=["metadatas"], limit=5000, offset=offset)["metadatas"]
                       for offset in range(0, total, 5000)]
        for meta in (m for batch in batches for m in batch):
            row = rows.setdefault(meta["source"], {
                "source": meta["source"], "name": meta.get("source_name", ""), "title": meta.get("title", ""),
                "chunks": 0, "size_bytes": meta.get("size_bytes", 0), "ingested_at": meta.get("ingested_at", ""),
            })
            row["chunks"] += 1
        return sorted(rows.values(), key=lambda r: r["source"])

    def stats(self) -> dict:
        sources = self.sources()
        with self._store("read the collection's statistics"):
            meta, chunks = self.collection.metadata or {}, self.collection.count()
        return {"collection": self.name, "chunks": chunks, "sources": len(sources),
                "embedder": meta.get("embedder"), "dim": meta.get("dim")}
