"""What can go wrong under the knowledge base, as errors a user can act on.

Two faults need more than a message. A Chroma server that dies mid-session surfaced as a raw
`httpx.ConnectError` that ended the chat turn with a bare error; it is now `StoreUnavailable`, and
the store reopens its collection on the next call, so the app works again once the server is back.
And embedded Chroma does not fail on a full disk, it hangs: its Rust core retries the write
without releasing the GIL, which froze the whole app process (every user) in a test on a 4 MB
tmpfs. So writes are checked against the free space first (`check_free_space`) and refused with
`StoreFull` while the disk can still take Chroma's own journal.
"""
from __future__ import annotations

import shutil
from pathlib import Path


class KnowledgeBaseError(RuntimeError):
    """A problem with the store a user must act on; the message says how."""


class EmbedderMismatch(KnowledgeBaseError):
    pass


class StoreUnavailable(KnowledgeBaseError):
    """The Chroma server is down or went away; the next call tries again."""


class StoreFull(KnowledgeBaseError):
    """Not enough free disk for a write; nothing was written."""


# Bytes a stored chunk takes on disk per byte of its vector, text and metadata, measured on
# embedded Chroma 1.5 (about 5 KB per 600-character chunk at 384 dimensions, bursts of 3x while
# the HNSW index grows), with room to spare: the check must stop writes before the disk is full.
DISK_BYTES_PER_BYTE = 12


def unreachable(exc: BaseException) -> bool:
    """A server that refused, dropped or timed out the connection (httpx's transport errors, or
    the OS's, anywhere in the cause chain), as opposed to a request the server refused."""
    import httpx

    seen: BaseException | None = exc
    for _ in range(8):  # a short chain; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, (httpx.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def missing_collection(exc: BaseException) -> bool:
    """Chroma's answer for a collection id it does not know (a server started on other data)."""
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError)


def chunk_bytes(dim: int, texts: list[str], metadatas: list[dict]) -> int:
    """Disk a batch of chunks will take, by `DISK_BYTES_PER_BYTE`."""
    raw = sum(4 * dim + len(t.encode("utf-8", "replace")) + len(str(m)) for t, m in zip(texts, metadatas))
    return raw * DISK_BYTES_PER_BYTE


def _index_bytes(folder: Path) -> int:
    """The vector index files (one folder per collection segment): Chroma rewrites them whole."""
    try:
        return sum(f.stat().st_size for d in folder.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file())
    except OSError:
        return 0


def check_free_space(folder: Path, needed_bytes: int, keep_free_bytes: int) -> None:
    """Raise `StoreFull` unless `needed_bytes` fit in `folder`'s file system with `keep_free_bytes`
    plus the size of the vector index left over: Chroma also needs room after a write, to apply
    its log and rewrite the index, and a read that runs into a full disk there hangs as well."""
    free = shutil.disk_usage(folder).free
    reserve = keep_free_bytes + _index_bytes(folder)
    if free - needed_bytes < reserve:
        needs = f"this needs about {needed_bytes / 1e6:.1f} MB and " if needed_bytes >= 100_000 else ""
        raise StoreFull(
            f"the disk holding the knowledge base is nearly full ({free / 1e6:.1f} MB free; {needs}"
            f"{reserve / 1e6:.0f} MB are kept free for the store's own files): free some space and try again. "
            "Nothing already stored was changed."
        )
