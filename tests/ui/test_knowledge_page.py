"""The knowledge-base page's handlers, without a browser: re-uploads, bad files, deleting."""
from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.store import KnowledgeBase, open_client
from ui.knowledge import delete_source, ingest_files


@pytest.fixture
def kb(tmp_path, embedder):
    return KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)


def _upload(root: Path, folder: str, name: str, content: str | bytes) -> str:
    path = root / "gradio" / folder / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.mark.faults(fault="a changed file uploaded again under the same name on the KB page",
                    expected="it replaces the old chunks; one source, no mixed old and new text")
def test_a_changed_file_uploaded_again_replaces_the_old_one(kb, tmp_path, observe):
    ingest_files(kb, [_upload(tmp_path, "h1", "notes.txt", "The lighthouse is painted red.")], progress=lambda *a, **k: None)
    message, table, *_ = ingest_files(kb, [_upload(tmp_path, "h2", "notes.txt", "The lighthouse is painted green.")],
                                      progress=lambda *a, **k: None)
    assert "1 chunks added" in message and "1 stale removed" in message
    assert [row[0] for row in table] == ["notes.txt"]
    assert kb.collection.get(include=["documents"])["documents"] == ["The lighthouse is painted green."]
    observe(f"\"{message}\"")


@pytest.mark.faults(fault="a KB page upload batch with a CSV field over 128 KB and a deeply nested JSONL file",
                    expected="the good file ingested, the bad ones named with their reasons")
def test_bad_uploads_are_named_and_the_good_one_ingested(kb, tmp_path, observe):
    files = [_upload(tmp_path, "g", "good.txt", "Owls hunt at night."),
             _upload(tmp_path, "w", "wide.csv", 'text\n"' + "x" * 200_000 + '"\n'),
             _upload(tmp_path, "d", "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n")]
    message, *_ = ingest_files(kb, files, progress=lambda *a, **k: None)
    assert "Ingested 1 file(s)" in message
    assert "`wide.csv`: a field is over 128 KB" in message and "`deep.jsonl`: line 1 is nested too deeply" in message
    observe(" ".join(message.split()))


@pytest.mark.faults(fault="Delete pressed on a source without confirming", expected="nothing deleted until 'Yes, delete it' is ticked")
def test_deleting_a_source_asks_for_confirmation(kb, tmp_path, observe):
    ingest_files(kb, [_upload(tmp_path, "h1", "notes.txt", "The lighthouse is painted red.")], progress=lambda *a, **k: None)
    message, *_ = delete_source(kb, "notes.txt", confirmed=False)
    assert "confirm" in message and kb.collection.count() == 1
    observe(f"unconfirmed: \"{message}\", nothing deleted")
    message, *_ = delete_source(kb, "notes.txt", confirmed=True)
    assert "Deleted `notes.txt` (1 chunks)" in message and kb.collection.count() == 0


def test_the_search_box_finds_a_rare_name_and_a_quoted_phrase(kb, tmp_path):
    from tests.knowledge_base.test_store import RARE_NAME_DOCS
    from ui.knowledge import search

    ingest_files(kb, [_upload(tmp_path, name, name, text) for name, text in RARE_NAME_DOCS.items()],
                 progress=lambda *a, **k: None)
    html = search(kb, "Zorblax", k=2)
    first, second = html.split("<li")[1:3]
    assert "survey.txt" in first and "exact text" in first and "exact text" not in second
    assert "quote.txt" in search(kb, '"give or take"') and "zorba.txt" not in search(kb, '"give or take"')
    assert "Nothing holds the exact text" in search(kb, '"no such words"')
