"""The ingest journal: which chunks an ingest is adding and dropping for each source, so a process
killed half way through a file never leaves two versions of it behind.

An ingest adds a changed file's new chunks first and drops its stale ones after; a kill in
between left the collection holding both versions until that file was ingested again, and
answers mixed old and new text. Before writing, `begin` records every planned source's new and
stale chunk ids (one write for the batch: a write costs about 0.1 s on embedded Chroma, so one
per file doubled the time of a folder of small files); `end` forgets them once all are stored.
`recover` (run on every open and before every ingest) settles what a dead ingest left, source by
source: if all its new chunks are stored it drops the stale ones (finishing the change),
otherwise it drops the new ones it got to (undoing it). Sources the ingest had not reached, or
had finished, are settled by the same rule with nothing to do.

The journal lives in Chroma beside the collection (`NAME-ingest`), so it works in server mode
and is shared by every replica. An entry is settled only when its writer is gone: a process of
this host that no longer runs (or this process, once the ingest that wrote it has ended), or
any entry older than `stale_after_s` (another host's ingest cannot be checked for life).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

_ACTIVE: set[tuple[str, str]] = set()  # (journal, source) being ingested by this process
_ACTIVE_LOCK = threading.Lock()
_BATCH = 1000  # ids per get/delete call


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class IngestJournal:
    def __init__(self, client, collection: str, stale_after_s: float = 3600.0):
        self.client, self.name, self.stale_after_s = client, f"{collection}-ingest", stale_after_s
        self._journal = None

    def _open(self, create: bool):
        if self._journal is None:
            if create:
                self._journal = self.client.get_or_create_collection(
                    self.name, embedding_function=None, metadata={"hnsw:space": "l2"})
            elif self.name in {getattr(c, "name", c) for c in self.client.list_collections()}:
                self._journal = self.client.get_collection(self.name, embedding_function=None)
        return self._journal

    def begin(self, changes: dict[str, tuple[list[str], list[str]]], batch: int = 1000) -> None:
        """Record {source: (new ids, stale ids)} before any of them is written."""
        if not changes:
            return
        with _ACTIVE_LOCK:
            _ACTIVE.update((self.name, source) for source in changes)
        journal = self._open(create=True)
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        sources = list(changes)
        for start in range(0, len(sources), batch):
            part = sources[start : start + batch]
            # Chroma stores records with a vector: a constant one-dimensional one, never searched.
            journal.upsert(ids=part, embeddings=[[1.0]] * len(part), metadatas=[owner] * len(part),
                           documents=[json.dumps({"new": changes[s][0], "stale": changes[s][1]}) for s in part])

    def end(self, sources: list[str], stored: bool = True) -> None:
        """The ingest is over: forget its entries once all is `stored`; else (it stopped on an error)
        leave them for `recover`, which may now settle them."""
        try:
            if stored and sources:
                _delete(self._open(create=True), sources)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.difference_update((self.name, source) for source in sources)

    def _abandoned(self, source: str, meta: dict) -> bool:
        if meta.get("host") == socket.gethostname():
            pid = int(meta.get("pid", 0))
            if pid == os.getpid():
                with _ACTIVE_LOCK:
                    return (self.name, source) not in _ACTIVE  # an ingest of ours that raised
            return not _alive(pid)
        return time.time() - float(meta.get("started", 0)) > self.stale_after_s

    def recover(self, collection) -> list[str]:
        """Finish or undo every abandoned entry; returns the sources settled."""
        journal = self._open(create=False)
        if journal is None:
            return []
        rows = journal.get(include=["documents", "metadatas"])
        settled = []
        for source, document, meta in zip(rows["ids"], rows["documents"], rows["metadatas"]):
            if not self._abandoned(source, meta or {}):
                continue
            change = json.loads(document)
            present = _present(collection, change["new"])
            if len(present) == len(change["new"]):
                _delete(collection, change["stale"])  # every new chunk made it: finish the change
            else:
                _delete(collection, sorted(present))  # undo: the source keeps its earlier version
            journal.delete(ids=[source])
            settled.append(source)
        return settled


def _present(collection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _BATCH):
        found |= set(collection.get(ids=ids[start : start + _BATCH], include=[])["ids"])
    return found


def _delete(collection, ids: list[str]) -> None:
    for start in range(0, len(ids), _BATCH):
        collection.delete(ids=ids[start : start + _BATCH])
