"""Bad documents in an ingest batch: each is named with a reason a user understands, and the rest
of the batch is stored (issue 20: one bad file used to abort the whole batch)."""
from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.store import KnowledgeBase, open_client
from tests.conftest import MiniLMEmbedder
from tests.knowledge_base.test_store import _write


def _reasons(report) -> str:
    return "; ".join(f"{Path(path).name}: {reason}" for path, reason in sorted(report.errors.items()))


@pytest.mark.faults(fault="bad documents in one batch: empty, binary, non-UTF-8, corrupt PDF, encrypted PDF, huge, "
                          "wrong extension (.docx), missing",
                    expected="each named with its reason; the good file stored")
def test_bad_inputs_are_reported_and_the_rest_ingested(tmp_path, embedder, observe):
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
    observe(f"1 file stored; {_reasons(report)}")


@pytest.mark.faults(fault="files that used to abort a batch: a CSV field over 128 KB, a deeply nested JSONL line, "
                          "a lone surrogate, a PDF whose xref exceeds pypdf's limits, Latin-1 Markdown",
                    expected="each named with its reason; the good file stored")
def test_one_bad_file_never_stops_a_batch(tmp_path, embedder, observe):
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
    observe(f"1 file stored; {_reasons(report)}")


@pytest.mark.faults(fault="a CSV with column names Chroma refuses (empty, '#', 'chroma:')",
                    expected="stored with the names made safe; the batch goes on")
def test_columns_chroma_cannot_store_do_not_stop_a_batch(tmp_path, embedder, observe):
    """pandas writes its index as a column with an empty header; Chroma rejects that key (and '#'
    or 'chroma:' ones) at upsert time, which used to abort every file after it."""
    folder = _write(tmp_path / "docs", {"good.txt": "Owls hunt at night on silent wings."})
    (folder / "pandas.csv").write_text(",text,#tag,chroma:document\n0,Bees make honey from nectar.,insects,x\n")
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    report = kb.ingest([folder])
    assert not report.errors and report.files == 2 and kb.collection.count() == 2
    assert kb.search_text("honey", k=1)[0].metadata["_#tag"] == "insects"
    observe(f"2 files stored; the CSV's columns kept as {sorted(k for k in kb.search_text('honey', k=1)[0].metadata if k.startswith('_'))}")


class _PoisonedEmbedder(MiniLMEmbedder):
    """Fails on one text, as an embedder or a store can fail on one file's chunks (here its last)."""

    def embed_text(self, texts):
        if any("POISON" in t for t in texts):
            raise ValueError("cannot embed this text")
        return super().embed_text(texts)


@pytest.mark.faults(fault="the embedder fails on one file's last chunks, after its first ones were stored",
                    expected="the file is named and its stored chunks removed; the other files stored")
def test_a_file_that_fails_to_store_is_named_and_leaves_nothing_behind(tmp_path, text_encoder, observe):
    folder = _write(tmp_path / "docs", {"a.txt": "Owls hunt at night.", "b.txt": "word " * 400 + "POISON",
                                        "c.txt": "Bees make honey."})
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", _PoisonedEmbedder(text_encoder), batch_size=1)
    report = kb.ingest([folder])
    assert set(map(lambda p: Path(p).name, report.errors)) == {"b.txt"} and "cannot embed" in next(iter(report.errors.values()))
    assert report.files == 2 and {r["name"] for r in kb.sources()} == {"a.txt", "c.txt"}
    observe(f"2 files stored, none of b.txt; {_reasons(report)}")


def _huge_xref_pdf(path: Path) -> None:
    """A PDF whose cross-reference table claims 99,999,999 entries in a 200-byte file."""
    body = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    path.write_bytes(body + b"xref\n0 99999999\n0000000000 65535 f \ntrailer\n<< /Size 3 /Root 1 0 R >>\n"
                     + f"startxref\n{len(body)}\n%%EOF\n".encode())


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with open(path, "wb") as fh:
        writer.write(fh)


