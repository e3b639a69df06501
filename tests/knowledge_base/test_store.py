"""The knowledge base on real Chroma, embedded and client/server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.retriever import SealRetriever
from knowledge_base.store import EmbedderMismatch, KnowledgeBase, open_client
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


@pytest.mark.faults(fault="a changed file re-uploaded under the same name ({id} Chroma)",
                    expected="replaces its chunks, never a second copy; the same file again changes nothing")
def test_reuploading_a_changed_file_replaces_it(kb, tmp_path, observe):
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
    observe(f"{report.chunks_removed} stale chunk(s) replaced; {before} chunks, one source, only the new text")


def test_uploads_keyed_by_temp_path_before_are_replaced_too(tmp_path, embedder):
    """Knowledge bases filled by the page before uploads were keyed by name hold temp paths."""
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    kb.ingest([_upload(tmp_path, "old", "notes.txt", "The lighthouse is painted red.")])  # the old keying
    kb.ingest([_upload(tmp_path, "new", "notes.txt", "The lighthouse is painted green.")], by_name=True)
    assert kb.collection.get(include=["documents"])["documents"] == ["The lighthouse is painted green."]


@pytest.mark.faults(fault="two different files with one name in an upload batch", expected="the second is named, not merged into the first")
def test_two_files_with_one_name_in_a_batch_are_not_merged(tmp_path, embedder, observe):
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "knowledge", embedder)
    one, two = _upload(tmp_path, "x", "notes.txt", "Owls hunt at night."), _upload(tmp_path, "y", "notes.txt", "Bees make honey.")
    report = kb.ingest([one, two], by_name=True)
    assert report.files == 1 and "same name" in report.errors[str(two)]
    assert kb.collection.get(include=["documents"])["documents"] == ["Owls hunt at night."]
    observe(f"the second: \"{report.errors[str(two)].split('(')[0].strip()}\"")


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




RARE_NAME_DOCS = {  # a name mentioned once in a long passage, and passages whose words look like it
    "survey.txt": "Ocean survey log, spring season. Crews measured salinity, water temperature and current speed at "
                  "forty stations along the shelf edge, deployed sonar buoys, and recorded whale song for the acoustic "
                  "archive. Storms delayed the work twice. Vessel on charter: Zorblax Tern.",
    "zorb.txt": "Zorbing is rolling downhill inside a large transparent plastic ball.",
    "zorba.txt": "Zorba the Greek is a 1946 novel by Nikos Kazantzakis about a lively workman.",
    "borax.txt": "Borax is a boron compound used in cleaning products and as a flux in metalwork.",
    "quote.txt": "Engineers said the bridge was built to last a thousand years, give or take.",
}


def test_the_search_box_finds_exact_text_and_rare_names(kb, tmp_path):
    """Meaning search alone ranked the one passage naming "Zorblax" below look-alikes; `find` puts
    exact matches first, and a quoted phrase returns exact matches only."""
    kb.ingest([_write(tmp_path / "docs", RARE_NAME_DOCS)])
    meaning = [p.metadata["source_name"] for p in kb.search_text("zorblax", k=3)]
    assert "survey.txt" not in meaning  # what the search box did before
    hits = kb.find("zorblax", k=3)  # lower case: Chroma's $contains is case-sensitive, so spellings are tried
    assert hits[0].metadata["source_name"] == "survey.txt" and hits[0].exact
    assert [p.metadata["source_name"] for p in hits[1:]] == meaning[:2] and not hits[1].exact
    phrase = kb.find('"a thousand years, give or take"', k=3)
    assert [p.metadata["source_name"] for p in phrase] == ["quote.txt"] and phrase[0].exact
    assert kb.find("“not written anywhere”", k=3) == []  # typographic quotes too
    assert kb.find("a novel about a Greek workman", k=1)[0].metadata["source_name"] == "zorba.txt"  # meaning still works


def test_a_new_collection_gets_the_denser_search_graph(kb):
    """M 32 / ef 200: Chroma's defaults missed nearest passages on 20,000 passages (stop 29)."""
    config = kb.collection.configuration_json["hnsw"]  # what Chroma built, not only what was asked
    assert config["max_neighbors"] == 32 and config["ef_search"] == 200 and config["ef_construction"] == 200
