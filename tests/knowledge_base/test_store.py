"""The knowledge base on real Chroma, embedded and client/server."""
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

from knowledge_base.retriever import SealRetriever
from knowledge_base.store import EmbedderMismatch, KnowledgeBase, KnowledgeBaseError, open_client
from tests.conftest import MiniLMEmbedder

DOCS = {
    "paris.md": "# Paris\n\nParis is the capital and largest city of France, with about two million residents.",
    "everest.txt": "Mount Everest is Earth's highest mountain above sea level, in the Himalayas.",
    "cells.txt": "Mitochondria are the powerhouse of the cell; they produce ATP through respiration.",
}


def _write(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(params=["embedded", "server"])
def kb(request, tmp_path, embedder):
    if request.param == "embedded":
        client = open_client(tmp_path / "chroma")
    else:
        client = open_client(Path("-"), request.getfixturevalue("chroma_server"))
    name = f"kb-{request.node.name.replace('[', '-').replace(']', '')}"[:60]
    try:
        client.delete_collection(name)
    except Exception:
        pass
    return KnowledgeBase(client, name, embedder)


def _ids(kb: KnowledgeBase) -> set[str]:
    return set(kb.collection.get(include=[])["ids"])


def test_ingest_query_reingest_change_delete(kb, tmp_path):
    folder = _write(tmp_path / "docs", DOCS)
    first = kb.ingest([folder])
    assert first.files == 3 and first.chunks_added == 3 and not first.errors
    top = kb.search_text("which city is the capital of France?", k=2)
    assert top[0].metadata["source_name"] == "paris.md" and top[0].score > top[1].score
    meta = top[0].metadata
    assert {"source", "title", "chunk_index", "content_hash", "ingested_at"} <= set(meta) and meta["title"] == "Paris"

    again = kb.ingest([folder])
    assert again.chunks_added == 0 and again.chunks_unchanged == 3 and kb.collection.count() == 3

    (folder / "everest.txt").write_text("K2 is the second-highest mountain on Earth, on the China-Pakistan border.")
    changed = kb.ingest([folder])
    assert changed.chunks_added == 1 and changed.chunks_removed == 1 and kb.collection.count() == 3
    assert kb.search_text("second highest mountain", k=1)[0].text.startswith("K2")
    assert not [p for p in kb.search_text("Everest Himalayas", k=3) if "Everest" in p.text]

    assert kb.delete_source("cells.txt") == 1
    assert kb.collection.count() == 2 and {r["name"] for r in kb.sources()} == {"paris.md", "everest.txt"}


def _upload(root: Path, folder: str, name: str, text: str) -> Path:
    """A file as the web page receives it: its own temp folder per upload, the user's file name."""
    path = root / "gradio" / folder / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_reuploading_a_changed_file_replaces_it(kb, tmp_path):
    first = _upload(tmp_path, "a1", "notes.txt", "The lighthouse on Kelpie Island is painted red.\n\n" + "Filler words. " * 60)
    kb.ingest([first], by_name=True)
    before = kb.collection.count()
    changed = _upload(tmp_path, "b2", "notes.txt", "The lighthouse on Kelpie Island is painted green.\n\n" + "Filler words. " * 60)
    report = kb.ingest([changed], by_name=True)
    assert report.chunks_removed >= 1 and kb.collection.count() == before
    assert [r["source"] for r in kb.sources()] == ["notes.txt"]
    texts = " ".join(kb.collection.get(include=["documents"])["documents"])
    assert "green" in texts and "red" not in texts
    same = kb.ingest([_upload(tmp_path, "c3", "notes.txt", changed.read_text())], by_name=True)
    assert same.chunks_added == 0 and same.chunks_removed == 0 and kb.collection.count() == before


def test_uploads_keyed_by_temp_path_before_are_replaced_too(tmp_path, embedder):
    """Knowledge bases filled by the page before uploads were keyed by name hold temp paths."""
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    kb.ingest([_upload(tmp_path, "old", "notes.txt", "The lighthouse is painted red.")])  # the old keying
    kb.ingest([_upload(tmp_path, "new", "notes.txt", "The lighthouse is painted green.")], by_name=True)
    assert kb.collection.get(include=["documents"])["documents"] == ["The lighthouse is painted green."]


def test_two_files_with_one_name_in_a_batch_are_not_merged(tmp_path, embedder):
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    one, two = _upload(tmp_path, "x", "notes.txt", "Owls hunt at night."), _upload(tmp_path, "y", "notes.txt", "Bees make honey.")
    report = kb.ingest([one, two], by_name=True)
    assert report.files == 1 and "same name" in report.errors[str(two)]
    assert kb.collection.get(include=["documents"])["documents"] == ["Owls hunt at night."]


def test_retriever_returns_documents_with_scores(kb, tmp_path):
    kb.ingest([_write(tmp_path / "docs", DOCS)])
    documents = SealRetriever(knowledge_base=kb, k=2).invoke("what produces ATP in a cell?")
    assert len(documents) == 2 and documents[0].metadata["source_name"] == "cells.txt"
    assert documents[0].metadata["score"] >= documents[1].metadata["score"]


def test_other_embedder_is_refused_and_reindex_fixes_it(tmp_path, embedder, text_encoder):
    client = open_client(tmp_path / "chroma")
    KnowledgeBase(client, "knowledge", embedder).ingest([_write(tmp_path / "docs", DOCS)])
    other = MiniLMEmbedder(text_encoder, fingerprint="another-model")
    with pytest.raises(EmbedderMismatch, match="seal-rag kb reindex"):
        KnowledgeBase(client, "knowledge", other)
    kb = KnowledgeBase(client, "knowledge", other, check_embedder=False)
    assert kb.reindex() == 3
    reopened = KnowledgeBase(client, "knowledge", other)  # no error any more
    assert reopened.collection.count() == 3
    assert reopened.search_text("capital of France", k=1)[0].metadata["source_name"] == "paris.md"


_KILLED_REINDEX = """
import hashlib, os, signal, sys
from pathlib import Path
import numpy as np
from chromadb.api.models.Collection import Collection
from knowledge_base.store import KnowledgeBase, open_client
from tests.knowledge_base.test_store import HashEmbedder

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


@pytest.mark.parametrize("kill_at", ["embedding", "change-1", "change-2", "change-3", "change-4"])
def test_killed_reindex_never_leaves_the_kb_without_its_collection(tmp_path, kill_at):
    docs = _write(tmp_path / "docs", {f"doc{i:02d}.txt": f"Document {i} is about subject {i * 7}." for i in range(10)})
    root = Path(__file__).resolve().parents[2]
    process = subprocess.run([sys.executable, "-c", _KILLED_REINDEX, str(tmp_path / "chroma"), str(docs), kill_at],
                             capture_output=True, text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                             timeout=300)
    assert "finished" not in process.stdout, process.stderr[-2000:]  # each kill point is reached

    client = open_client(tmp_path / "chroma")  # this process never opened it: nothing cached
    kb = KnowledgeBase(client, "knowledge", HashEmbedder("new"), check_embedder=False)
    assert kb.collection.count() == 10  # the old collection or the finished new one, whole
    assert kb.reindex() == 10
    assert KnowledgeBase(client, "knowledge", HashEmbedder("new")).collection.count() == 10
    assert sorted(c.name for c in client.list_collections()) == ["knowledge"]


def test_bad_inputs_are_reported_and_the_rest_ingested(tmp_path, embedder):
    folder = _write(tmp_path / "docs", {"good.txt": "Photosynthesis turns light into chemical energy."})
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01\x02" * 50)
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf \x00\x01")
    (folder / "huge.txt").write_text("word " * 300_000)
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    _encrypted_pdf(folder / "secret.pdf")
    client = open_client(tmp_path / "chroma")
    kb = KnowledgeBase(client, "knowledge", embedder, max_file_bytes=1_000_000)
    report = kb.ingest([folder, tmp_path / "missing.md", folder / "notes.docx"])
    reasons = {Path(p).name: r for p, r in report.errors.items()}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "corrupt" in reasons["corrupt.pdf"]
    assert "encrypted" in reasons["secret.pdf"]
    assert "limit" in reasons["huge.txt"]
    assert "unsupported" in reasons["notes.docx"]
    assert "no such file" in reasons["missing.md"]
    assert report.files == 1 and kb.collection.count() == 1


def test_one_bad_file_never_stops_a_batch(tmp_path, embedder):
    """Files that used to raise past the loaders (and abort everything after them) are named."""
    folder = _write(tmp_path / "docs", {"good.txt": "Owls hunt at night on silent wings."})
    (folder / "wide.csv").write_text("text,lang\n\"" + "x" * 200_000 + "\",en\n")  # _csv.Error: field limit
    (folder / "deep.jsonl").write_text('{"text": "ok"}\n' + "[" * 100_000 + "]" * 100_000 + "\n")  # RecursionError
    (folder / "surrogate.jsonl").write_text('{"text": "half a pair \\ud800 here"}\n')  # not encodable as UTF-8
    _huge_xref_pdf(folder / "limits.pdf")  # pypdf's LimitReachedError, outside the caught tuple
    (folder / "latin1.md").write_bytes("# Caf\xe9\n\ncr\xe8me br\xfbl\xe9e".encode("latin-1"))
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    report = kb.ingest([folder])
    reasons = {Path(p).name: r for p, r in report.errors.items()}
    assert set(reasons) == {"wide.csv", "deep.jsonl", "surrogate.jsonl", "limits.pdf", "latin1.md"}
    assert "128 KB" in reasons["wide.csv"] and "line 2" in reasons["wide.csv"]
    assert "line 2" in reasons["deep.jsonl"] and "nested too deeply" in reasons["deep.jsonl"]
    assert "line 1" in reasons["surrogate.jsonl"] and "Unicode" in reasons["surrogate.jsonl"]
    assert "corrupt or unreadable PDF" in reasons["limits.pdf"]
    assert "UTF-8" in reasons["latin1.md"]
    assert report.files == 1 and kb.collection.count() == 1


def test_columns_chroma_cannot_store_do_not_stop_a_batch(tmp_path, embedder):
    """pandas writes its index as a column with an empty header; Chroma rejects that key (and '#'
    or 'chroma:' ones) at upsert time, which used to abort every file after it."""
    folder = _write(tmp_path / "docs", {"good.txt": "Owls hunt at night on silent wings."})
    (folder / "pandas.csv").write_text(",text,#tag,chroma:document\n0,Bees make honey from nectar.,insects,x\n")
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    report = kb.ingest([folder])
    assert not report.errors and report.files == 2 and kb.collection.count() == 2
    assert kb.search_text("honey", k=1)[0].metadata["_#tag"] == "insects"


class _PoisonedEmbedder(MiniLMEmbedder):
    """Fails on one text, as an embedder or a store can fail on one file's chunks (here its last)."""

    def embed_text(self, texts):
        if any("POISON" in t for t in texts):
            raise ValueError("cannot embed this text")
        return super().embed_text(texts)


def test_a_file_that_fails_to_store_is_named_and_leaves_nothing_behind(tmp_path, text_encoder):
    folder = _write(tmp_path / "docs", {"a.txt": "Owls hunt at night.", "b.txt": "word " * 400 + "POISON",
                                        "c.txt": "Bees make honey."})
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", _PoisonedEmbedder(text_encoder), batch_size=1)
    report = kb.ingest([folder])
    assert set(map(lambda p: Path(p).name, report.errors)) == {"b.txt"} and "cannot embed" in next(iter(report.errors.values()))
    assert report.files == 2 and {r["name"] for r in kb.sources()} == {"a.txt", "c.txt"}


def _huge_xref_pdf(path: Path) -> None:
    """A PDF whose cross-reference table claims 99,999,999 entries in a 200-byte file."""
    body = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    path.write_bytes(body + b"xref\n0 99999999\n0000000000 65535 f \ntrailer\n<< /Size 3 /Root 1 0 R >>\n"
                     + f"startxref\n{len(body)}\n%%EOF\n".encode())


def test_pdf_html_jsonl_csv_loaders(tmp_path, embedder):
    from pypdf import PdfWriter

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "page.html").write_text(
        "<html><head><title>Volcanoes</title><style>p{color:red}</style></head><body><nav>menu</nav>"
        "<p>Volcanoes erupt molten rock called lava.</p><script>alert('x')</script></body></html>"
    )
    (folder / "rows.jsonl").write_text(json.dumps({"text": "Owls hunt at night.", "topic": "birds", "tags": ["a"]}) + "\n")
    (folder / "rows.csv").write_text("text,lang\nBees make honey from nectar.,en\n")
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    with open(folder / "blank.pdf", "wb") as fh:
        writer.write(fh)
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    report = kb.ingest([folder])
    assert report.files == 3 and "no extractable text" in report.errors[str(folder / "blank.pdf")]
    html = kb.search_text("lava", k=1)[0]
    assert html.metadata["title"] == "Volcanoes" and "alert" not in html.text and "color" not in html.text
    owl = kb.search_text("nocturnal birds hunting", k=1)[0]
    assert owl.metadata["topic"] == "birds" and owl.metadata["tags"] == '["a"]'
    assert kb.search_text("honey", k=1)[0].metadata["lang"] == "en"


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with open(path, "wb") as fh:
        writer.write(fh)


def test_pdf_pages_are_kept(tmp_path, embedder):
    pdf = tmp_path / "docs" / "two_pages.pdf"
    pdf.parent.mkdir()
    _text_pdf(pdf, ["Giraffes have long necks.", "Penguins cannot fly but swim well."])
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    kb.ingest([pdf])
    assert kb.search_text("flightless swimming birds", k=1)[0].metadata["page"] == 2


def _text_pdf(path: Path, pages: list[str]) -> None:
    """A minimal valid PDF with one line of text per page, written by hand (no extra deps)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        content_id = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents {content_id} 0 R "
                       f"/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)


def test_unreachable_chroma_server_is_a_clear_message():
    with pytest.raises(KnowledgeBaseError, match="cannot reach the Chroma server"):
        open_client(Path("-"), "http://127.0.0.1:9")


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


def test_killed_ingest_rerun_equals_clean_run(tmp_path, embedder, chroma_server):
    docs = {f"doc{i:02d}.txt": f"Document number {i} describes topic {i * 7} in some detail." for i in range(40)}
    folder = _write(tmp_path / "docs", docs)
    client = open_client(Path("-"), chroma_server)
    kb = KnowledgeBase(client, "killed", embedder)
    kb.ingest([folder])
    for i in range(0, 40, 3):  # change a third of the files: the next ingest has stale chunks to drop
        (folder / f"doc{i:02d}.txt").write_text(f"Revised document {i} now covers subject {i * 11}.")

    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_INGEST, chroma_server, "killed", str(folder)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
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
