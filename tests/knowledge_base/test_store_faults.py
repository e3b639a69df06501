"""Faults under the knowledge base: processes killed mid-write, a Chroma server that dies and comes
back, a full disk. After each, nothing stored is lost or duplicated and the next request works."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge_base.store import KnowledgeBase, KnowledgeBaseError, StoreUnavailable, open_client
from tests.knowledge_base.test_store import _ids, _write

ROOT = Path(__file__).resolve().parents[2]


_KILLED_REINDEX = """
import hashlib, os, signal, sys
from pathlib import Path
import numpy as np
from chromadb.api.models.Collection import Collection
from knowledge_base.store import KnowledgeBase, open_client
from tests.knowledge_base.test_store_faults import HashEmbedder

chroma, docs, kill_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
client = open_client(chroma)
KnowledgeBase(client, "knowledge", HashEmbedder("old")).ingest([docs])
changes = 0


def killing(method):
    # SIGKILL right after the Nth call that changes which collections exist or what they are called
    def wrapper(*args, **kwargs):
        global changes
        try:
            return method(*args, **kwargs)
        finally:
            changes += 1
            if f"change-{changes}" == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    return wrapper


type(client).delete_collection = killing(type(client).delete_collection)
Collection.modify = killing(Collection.modify)
kb = KnowledgeBase(client, "knowledge", HashEmbedder("new", kill_on_call=2 if kill_at == "embedding" else 0),
                   check_embedder=False, batch_size=4)
kb.reindex()
print("finished", flush=True)
"""


class HashEmbedder:
    """Vectors from a hash of the text: enough to store and count, no model to load."""

    dim = 8

    def __init__(self, fingerprint: str, kill_on_call: int = 0):
        self.text_fingerprint, self.kill_on_call, self.calls = fingerprint, kill_on_call, 0

    def embed_text(self, texts):
        import numpy as np

        self.calls += 1
        if self.calls == self.kill_on_call:
            os.kill(os.getpid(), signal.SIGKILL)
        return np.array([[b / 255 + 0.01 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts], np.float32)


def _run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout)


@pytest.mark.faults(fault="SIGKILL mid-reindex (embedded), at {kill_at}",
                    expected="the next open finishes or undoes the swap: the collection is whole, nothing lost")
@pytest.mark.parametrize("kill_at", ["embedding", "change-1", "change-2", "change-3", "change-4"])
def test_killed_reindex_never_leaves_the_kb_without_its_collection(tmp_path, kill_at, observe):
    docs = _write(tmp_path / "docs", {f"doc{i:02d}.txt": f"Document {i} is about subject {i * 7}." for i in range(10)})
    process = _run_script(_KILLED_REINDEX, str(tmp_path / "chroma"), str(docs), kill_at)
    assert "finished" not in process.stdout, process.stderr[-2000:]  # each kill point is reached

    client = open_client(tmp_path / "chroma")  # this process never opened it: nothing cached
    kb = KnowledgeBase(client, "knowledge", HashEmbedder("new"), check_embedder=False)
    assert kb.collection.count() == 10  # the old collection or the finished new one, whole
    assert kb.reindex() == 10
    assert KnowledgeBase(client, "knowledge", HashEmbedder("new")).collection.count() == 10
    # beside it only the ingest journal (knowledge_base.journal), which the first ingest made
    assert sorted(c.name for c in client.list_collections()) == ["knowledge", "knowledge-ingest"]
    observe("killed by SIGKILL; reopened with 10 of 10 chunks, reindex again 10")


@pytest.mark.faults(fault="Chroma server down when the app starts", expected="a message naming the server and the setting")
def test_unreachable_chroma_server_is_a_clear_message(observe):
    with pytest.raises(KnowledgeBaseError, match="cannot reach the Chroma server") as raised:
        open_client(Path("-"), "http://127.0.0.1:9")
    observe(f'"{raised.value}"')



_KILLED_INGEST = """
import sys
from pathlib import Path
from knowledge_base.store import KnowledgeBase, open_client
from rag_app.model_store import resolve_model_dir
from rag_app.settings import load_settings
from seal_model.text_encoder import TextEncoder
from tests.conftest import MiniLMEmbedder
embedder = MiniLMEmbedder(TextEncoder(resolve_model_dir(load_settings(), "text_encoder")), delay_s=0.3)
kb = KnowledgeBase(open_client(Path("-"), sys.argv[1]), sys.argv[2], embedder, batch_size=4)
print("ready", flush=True)
kb.ingest([sys.argv[3]])
print("finished", flush=True)
"""


@pytest.mark.faults(fault="SIGKILL mid-ingest (server), at a random point of a re-ingest changing 14 of 40 files",
                    expected="the rerun ends with exactly the chunks of a clean run")
def test_killed_ingest_rerun_equals_clean_run(tmp_path, embedder, chroma_server, observe):
    docs = {f"doc{i:02d}.txt": f"Document number {i} describes topic {i * 7} in some detail." for i in range(40)}
    folder = _write(tmp_path / "docs", docs)
    client = open_client(Path("-"), chroma_server)
    kb = KnowledgeBase(client, "killed", embedder)
    kb.ingest([folder])
    for i in range(0, 40, 3):  # change a third of the files: the next ingest has stale chunks to drop
        (folder / f"doc{i:02d}.txt").write_text(f"Revised document {i} now covers subject {i * 11}.")

    process = subprocess.Popen([sys.executable, "-c", _KILLED_INGEST, chroma_server, "killed", str(folder)],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "ready"
    before = set(kb.collection.get(include=[])["ids"])
    deadline = time.time() + 120
    while set(kb.collection.get(include=[])["ids"]) == before and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    rest = process.communicate()[0]
    partial = set(kb.collection.get(include=[])["ids"])
    assert "finished" not in rest and partial != before  # killed part way through the changes

    kb.ingest([folder])
    clean = KnowledgeBase(client, "clean", embedder)
    clean.ingest([folder])
    assert _ids(kb) == _ids(clean) and kb.collection.count() == 40
    observe(f"killed with {len(partial - before)} new chunks stored; rerun: 40 chunks, the same ids as a clean run")


_KILLED_CHANGE = """
import os, signal, sys
from pathlib import Path
from chromadb.api.models.Collection import Collection
from knowledge_base.store import KnowledgeBase, open_client
from tests.knowledge_base.test_store_faults import HashEmbedder, revise

where, folder, kill_at, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
client = open_client(Path(where)) if not where.startswith("http") else open_client(Path("-"), where)
KnowledgeBase(client, name, HashEmbedder("h")).ingest([folder])
revise(folder)
calls = 0


def killing(method, name):
    # SIGKILL right after the 3rd call of `name` on the collection (not on its journal)
    def wrapper(self, *args, **kwargs):
        global calls
        result = method(self, *args, **kwargs)
        if self.name == sys.argv[4] and kill_at == name:
            calls += 1
            if calls == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper


Collection.upsert = killing(Collection.upsert, "after-add")
Collection.delete = killing(Collection.delete, "after-drop")
kb = KnowledgeBase(client, name, HashEmbedder("h", kill_on_call=3 if kill_at == "embedding" else 0), batch_size=4)
kb.ingest([folder])
print("finished", flush=True)
"""


FILES = 12


def _versions(revised: bool) -> dict[str, str]:
    return {f"doc{i:02d}.txt": (f"Revised document {i} now covers subject {i * 11}." if revised and i % 3 == 0
                                else f"Document number {i} describes topic {i * 7}.") for i in range(FILES)}


def revise(folder: Path) -> None:
    """Change every third file: an ingest then has new chunks to add and stale ones to drop."""
    _write(folder, _versions(revised=True))


@pytest.mark.faults(fault="SIGKILL mid-ingest ({mode}), {kill_at} of the 3rd changed file",
                    expected="after a restart each file holds one version, old or new (no half-ingested "
                             "duplicates); ingesting again equals a clean run")
@pytest.mark.parametrize("mode, kill_at", [("embedded", "embedding"), ("embedded", "after-add"),
                                           ("embedded", "after-drop"), ("server", "after-add")])
def test_killed_ingest_leaves_one_version_of_each_file(tmp_path, mode, kill_at, request, observe):
    """New chunks are added before a changed file's stale ones are dropped; a kill in between left
    both versions in the collection (13 chunks for 12 files) until the file was ingested again."""
    where = str(tmp_path / "chroma") if mode == "embedded" else request.getfixturevalue("chroma_server")
    name = f"one-version-{kill_at}"  # the server is shared by the session's tests
    folder = _write(tmp_path / "docs", _versions(revised=False))
    process = _run_script(_KILLED_CHANGE, where, str(folder), kill_at, name)
    assert process.returncode == -signal.SIGKILL and "finished" not in process.stdout, process.stderr[-2000:]

    client = open_client(tmp_path / "chroma") if mode == "embedded" else open_client(Path("-"), where)
    kb = KnowledgeBase(client, name, HashEmbedder("h"))  # the restarted app opens it
    rows = kb.collection.get(include=["documents", "metadatas"])
    by_source = {Path(m["source"]).name: d for d, m in zip(rows["documents"], rows["metadatas"])}
    old, new = _versions(revised=False), _versions(revised=True)
    assert len(rows["ids"]) == FILES and len(by_source) == FILES, sorted(rows["documents"])
    assert all(text in (old[name], new[name]) for name, text in by_source.items())
    revised = sum(by_source[name] != old[name] for name in by_source)

    kb.ingest([folder])
    clean = KnowledgeBase(client, f"{name}-clean", HashEmbedder("h"))
    clean.ingest([folder])
    assert _ids(kb) == _ids(clean) and kb.collection.count() == FILES
    observe(f"after the kill: {FILES} chunks for {FILES} files ({revised} of {FILES // 3} changes in, "
            "none half); ingest again: the same ids as a clean run")


class _ChromaServer:
    """A `chroma run` of our own (the session's server must not be killed), restartable on its port."""

    def __init__(self, folder: Path):
        from tests.conftest import _free_port

        self.folder, self.port = folder, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        from deploy.launcher import chroma_command
        from tests.conftest import wait_for_server

        log = self.folder / "server.log"
        self.process = subprocess.Popen(chroma_command(Path(sys.executable).parent / "chroma", self.folder / "data", self.port),
                                        stdout=open(log, "a"), stderr=subprocess.STDOUT)
        wait_for_server(lambda: open_client(Path("-"), self.url) is not None, self.process, log, "chroma run", 60, 0.3)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=20)


class _KillingEmbedder(HashEmbedder):
    """Kills the Chroma server while an ingest is embedding its `on_call`th batch."""

    def __init__(self, server: _ChromaServer, on_call: int):
        super().__init__("h")
        self.server, self.on_call = server, on_call

    def embed_text(self, texts):
        if self.calls + 1 == self.on_call:
            self.server.kill()
        return super().embed_text(texts)


@pytest.mark.faults(fault="Chroma server killed mid-session (mid-ingest, then during search, ingest and a chat "
                          "turn), then restarted",
                    expected="each request while it is down gives a message naming the problem (no crash); after "
                             "the restart the next request works without restarting the app; nothing lost or doubled")
def test_a_chroma_server_killed_and_restarted_mid_session(tmp_path, observe):
    from rag_app.pipeline import Pipeline
    from ui.chat import respond
    from ui.knowledge import delete_source, ingest_files, refresh

    server = _ChromaServer(tmp_path)
    try:
        docs = _write(tmp_path / "docs", {"lighthouse.txt": "The lighthouse on Kelpie Island is painted red.",
                                          **{f"doc{i}.txt": f"Document {i} is about subject {i * 7}." for i in range(6)}})
        killing = _KillingEmbedder(server, on_call=4)
        kb = KnowledgeBase(open_client(Path("-"), server.url), "knowledge", killing, batch_size=1)
        with pytest.raises(StoreUnavailable, match="could not ingest: the Chroma server at 127.0.0.1:.* is not answering"):
            kb.ingest([docs])  # the server dies under the 4th file
        mid_ingest = "killed under the 4th of 7 files: the ingest stopped with a message"

        with pytest.raises(StoreUnavailable, match="could not search the knowledge base") as down:
            kb.search_text("lighthouse")
        pipeline = Pipeline(killing, kb, None)
        chat, *_, notice, _reply, _history, _turns = list(respond(pipeline, None, "what colour is the lighthouse?",
                                                                  "seal", False, [], [], []))[-1]
        assert "Could not use this question" in notice and "is not answering" in notice
        report, *_ = ingest_files(kb, [str(docs / "doc0.txt")], progress=lambda *a, **k: None)
        assert report.startswith("**Ingestion stopped:** could not ingest") and "is not answering" in report
        assert delete_source(kb, "doc0.txt", confirmed=True)[0].startswith("**Not deleted:** could not delete")
        assert "could not list the sources" in refresh(kb)[1]  # the KB page still loads, saying why it is empty

        server.start()
        kb.ingest([docs])  # the next request: no app restart
        assert kb.collection.count() == 7 and len(kb.sources()) == 7  # one chunk per file, nothing doubled
        assert kb.search_text("The lighthouse on Kelpie Island is painted red.", 1)[0].metadata["source_name"] == "lighthouse.txt"
        after = list(respond(pipeline, None, "what colour is the lighthouse?", "seal", False, [], [], []))[-1]
        assert "lighthouse.txt" in after[1]  # the sources column of the turn
        observe(f"{mid_ingest}; while down: \"{down.value}\"; a chat turn ended with that notice; after the "
                "restart the same app object ingested the rest (7 chunks, 7 files) and answered a turn with sources")
    finally:
        server.kill()


_DISK_FULL = """
import json, os, shutil, sys
from pathlib import Path
from knowledge_base.store import KnowledgeBase, KnowledgeBaseError, StoreFull, open_client
from tests.knowledge_base.test_store_faults import HashEmbedder

disk, docs = Path(sys.argv[1]), Path(sys.argv[2])
kb = KnowledgeBase(open_client(disk / "chroma"), "knowledge", HashEmbedder("h"), keep_free_bytes=3_000_000, batch_size=64)
kb.ingest([docs / "lighthouse.txt"])
seen = {}
for name, left in (("nearly_full", 1_500_000), ("fills_mid_file", 6_000_000)):
    filler = disk / "filler"
    filler.write_bytes(b"0" * max(0, shutil.disk_usage(disk).free - left))
    try:
        kb.ingest([docs / "big.txt"])
        seen[name] = "stored"
    except StoreFull as exc:
        seen[name] = str(exc)
    seen[name + "_after"] = [kb.collection.count(), kb.search_text("lighthouse Kelpie", 1)[0].text]
    filler.unlink()
report = kb.ingest([docs / "big.txt"])
seen["freed"] = [report.files, report.chunks_added, kb.collection.count(), kb.journal._open(create=True).count()]
print(json.dumps(seen), flush=True)
os._exit(0)
"""


def _tiny_disk(megabytes: int) -> list[str] | None:
    """A command prefix that runs a command with a fresh tmpfs of that size mounted at $DISK: a mount
    namespace of its own (root), else a user namespace (no root needed where the kernel allows it)."""
    import shutil

    if shutil.which("unshare") is None:
        return None
    mount = f'mount -t tmpfs -o size={megabytes}m tmpfs "$DISK" && exec "$@"'
    for flags in (["-m"], ["-r", "-m"]):
        probe = subprocess.run(["unshare", *flags, "sh", "-c", mount, "sh", "true"], capture_output=True,
                               env={**os.environ, "DISK": "/tmp"}, timeout=30)
        if probe.returncode == 0:
            return ["unshare", *flags, "sh", "-c", mount, "sh"]
    return None


@pytest.mark.faults(fault="disk full on the embedded Chroma path (a 24 MB tmpfs: nearly full before an ingest, "
                          "and filling up part way through a file)",
                    expected="a message saying the disk is full; nothing already stored lost, nothing half stored; "
                             "search keeps working; after freeing space the same ingest works")
def test_a_full_disk_is_refused_before_chroma_writes(tmp_path, observe):
    """Embedded Chroma does not fail on a full disk: it hangs, holding the GIL, and the whole app froze."""
    prefix = _tiny_disk(24)
    if prefix is None:
        pytest.skip("no tmpfs to fill: needs root or unprivileged user namespaces (unshare -rm)")
    docs = _write(tmp_path / "docs", {"lighthouse.txt": "The lighthouse on Kelpie Island is painted red."})
    (docs / "big.txt").write_text("\n\n".join(f"Paragraph {i} tells fact number {i * 13} about topic {i % 97}. " * 6
                                              for i in range(1500)))
    disk = tmp_path / "disk"
    disk.mkdir()
    process = subprocess.run([*prefix, sys.executable, "-c", _DISK_FULL, str(disk), str(docs)], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "DISK": str(disk)},
                             timeout=240)
    assert process.returncode == 0, process.stderr[-3000:]
    seen = json.loads(process.stdout.strip().splitlines()[-1])
    for case in ("nearly_full", "fills_mid_file"):
        assert "disk holding the knowledge base is nearly full" in seen[case], seen
        count, top = seen[case + "_after"]
        assert count == 1 and top.startswith("The lighthouse"), seen  # the old chunk, nothing half stored
    files, added, count, journal = seen["freed"]
    assert files == 1 and count == 1 + added and added > 64 and journal == 0  # several batches: the file is whole
    observe(f"\"{seen['nearly_full'].split(':')[0]}: ...\" in both cases; the store kept its 1 chunk and answered "
            f"searches; after freeing space the file stored {added} chunks")
