"""The knowledge-base page: upload documents, see and delete sources, check what a search finds.
It only calls `KnowledgeBase`; per-file problems are listed and the rest is still ingested."""
from __future__ import annotations

from html import escape
from pathlib import Path

import gradio as gr

from knowledge_base.store import KnowledgeBase, KnowledgeBaseError
from ui.render import passages_html
from ui.uploads import delete_cache

SOURCE_COLUMNS = ["name", "title", "chunks", "size KB", "ingested at"]


def sources_table(kb: KnowledgeBase) -> list[list]:
    return [[r["name"], r["title"], r["chunks"], round(r["size_bytes"] / 1024, 1), r["ingested_at"]] for r in kb.sources()]


def stats_markdown(kb: KnowledgeBase) -> str:
    s = kb.stats()
    return (f"**Collection** `{s['collection']}`: {s['chunks']} chunks from {s['sources']} sources; "
            f"embedder `{s['embedder']}` ({s['dim']}-d)")


def ingest_files(kb: KnowledgeBase, files: list[str] | None, progress=gr.Progress()) -> tuple[str, list, str, dict]:
    if not files:
        return "Choose one or more files first.", gr.skip(), gr.skip(), gr.skip()
    progress(0, desc="reading files")
    try:
        # by name: every upload arrives in a new temp folder, and the same name means the same document
        report = kb.ingest([Path(f) for f in files], by_name=True,
                           progress=lambda done, total: progress((done, total), desc="embedding chunks"))
    except KnowledgeBaseError as exc:
        return f"**Ingestion stopped:** {escape(str(exc))}", gr.skip(), gr.skip(), gr.skip()
    lines = [f"Ingested {report.files} file(s): {report.chunks_added} chunks added, {report.chunks_unchanged} unchanged, "
             f"{report.chunks_removed} stale removed, in {report.seconds:.1f} s."]
    for path, reason in report.errors.items():
        lines.append(f"- ⚠️ `{escape(Path(path).name)}`: {escape(reason)}")
    return "\n".join(lines), sources_table(kb), stats_markdown(kb), gr.update(choices=_names(kb))


def _names(kb: KnowledgeBase) -> list[str]:
    """Source keys for the delete list: an upload's file name, a command-line ingest's path (so
    two files with one name from different folders stay two choices)."""
    return sorted(r["source"] for r in kb.sources())


def delete_source(kb: KnowledgeBase, name: str | None, confirmed: bool = False) -> tuple[str, list, str, dict, dict]:
    """Deleting changes what every user is answered from and cannot be undone: it needs the
    confirmation box ticked, which is cleared again after each delete."""
    if not name:
        return "Pick a source to delete.", gr.skip(), gr.skip(), gr.skip(), gr.skip()
    if not confirmed:
        return (f"Tick *Yes, delete it* to confirm deleting `{escape(name)}`.", gr.skip(), gr.skip(), gr.skip(),
                gr.skip())
    try:
        removed = kb.delete_source(name)
        return (f"Deleted `{escape(name)}` ({removed} chunks).", sources_table(kb), stats_markdown(kb),
                gr.update(choices=_names(kb), value=None), False)
    except KnowledgeBaseError as exc:  # a Chroma server gone: say so, keep the page
        return f"**Not deleted:** {escape(str(exc))}", gr.skip(), gr.skip(), gr.skip(), gr.skip()


def refresh(kb: KnowledgeBase) -> tuple[list, str, dict]:
    """The sources table, the stats line and the delete list; a store that is down is said in the stats line."""
    try:
        return sources_table(kb), stats_markdown(kb), gr.update(choices=_names(kb))
    except KnowledgeBaseError as exc:
        return [], f"⚠️ {escape(str(exc))}", gr.update(choices=[])


def search(kb: KnowledgeBase, query: str, k: int = 5) -> str:
    """Exact text first (a rare name, or a "quoted phrase" for exact matches only), then meaning."""
    if not (query or "").strip():
        return "<p>Type something to search for.</p>"
    try:
        found = kb.find(query.strip(), k)
    except KnowledgeBaseError as exc:
        return f"<p>⚠️ {escape(str(exc))}</p>"
    if not found:
        return f"<p>Nothing holds the exact text {escape(query.strip())}.</p>"
    return passages_html(found, f"Top {k} for “{query.strip()}”")


def build_knowledge_page(kb: KnowledgeBase, max_upload_mb: float, upload_max_age_s: int) -> gr.Blocks:
    # documents are read into the store at Ingest; the uploaded copies then only take disk space
    with gr.Blocks(title="seal-rag: knowledge base", delete_cache=delete_cache(upload_max_age_s)) as page:
        gr.Markdown(f"# Knowledge base\nUpload .txt, .md, .pdf, .html, .jsonl or .csv files (up to {max_upload_mb:.0f} MB each). "
                    "A file uploaded again under the same name replaces the earlier one.")
        stats = gr.Markdown(elem_id="kb-stats")
        with gr.Row():
            files = gr.File(file_count="multiple", type="filepath", label="Documents", elem_id="kb-files")
            with gr.Column():
                ingest = gr.Button("Ingest", variant="primary", elem_id="kb-ingest")
                report = gr.Markdown(elem_id="kb-report")
        table = gr.Dataframe(headers=SOURCE_COLUMNS, label="Sources", interactive=False, elem_id="kb-sources")
        with gr.Row():
            source_choice = gr.Dropdown(label="Source", choices=[], elem_id="kb-delete-choice")
            sure = gr.Checkbox(label="Yes, delete it", value=False, elem_id="kb-delete-confirm")
            delete = gr.Button("Delete source", variant="stop", elem_id="kb-delete")
        with gr.Row():
            query = gr.Textbox(label="Search what is stored", elem_id="kb-query",
                               placeholder='words, a name, or a "quoted phrase" for exact text only')
            find = gr.Button("Search", elem_id="kb-search")
        found = gr.HTML(elem_id="kb-results")

        def on_ingest(paths, progress=gr.Progress()):
            return ingest_files(kb, paths, progress)

        ingest.click(on_ingest, files, [report, table, stats, source_choice], concurrency_id="ingest", concurrency_limit=1)
        delete.click(lambda name, confirmed: delete_source(kb, name, confirmed), [source_choice, sure],
                     [report, table, stats, source_choice, sure])
        find.click(lambda q: search(kb, q), query, found, api_name="search")  # a stable name for HTTP clients
        query.submit(lambda q: search(kb, q), query, found)
        page.load(lambda: refresh(kb), None, [table, stats, source_choice])
    return page
