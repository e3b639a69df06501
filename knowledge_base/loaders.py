"""Document loaders: files and folders -> LangChain `Document`s, one problem per file reported.

A bad file never stops a batch: each loader either yields documents or raises `LoadError`
with a reason a user can act on, and `load_paths` collects those per file.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable

from langchain_core.documents import Document

from seal_model.jsonl import JsonlError, iter_jsonl

SUPPORTED = (".txt", ".md", ".pdf", ".html", ".htm", ".jsonl", ".csv")


class LoadError(ValueError):
    """A file that cannot be ingested, and why."""


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # path -> reason
    files: list[str] = field(default_factory=list)  # paths that produced documents


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise LoadError("the file is empty")
    if b"\x00" in raw[:8192]:
        raise LoadError("binary content in a text file (is it really text?)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from exc
    if not text.strip():
        raise LoadError("the file has no text")
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    """Text extracted from a PDF can hold lone surrogates (a broken ToUnicode map); they cannot be
    stored or embedded, so they become U+FFFD rather than costing the whole file."""
    return _SURROGATE.sub("\ufffd", text)


def _title_of(text: str, path: Path) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:120]
    return path.stem


def load_text(path: Path) -> list[Document]:
    text = _read_text(path)
    return [Document(page_content=text, metadata={"source": str(path), "title": _title_of(text, path)})]


def load_pdf(path: Path) -> list[Document]:
    from pypdf import PdfReader

    if path.stat().st_size == 0:
        raise LoadError("the file is empty")
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoadError("the PDF is encrypted; remove the password first")
        title = (reader.metadata.title if reader.metadata and reader.metadata.title else path.stem)
        documents = []
        for number, page in enumerate(reader.pages, 1):
            text = _valid_unicode((page.extract_text() or "").strip())
            if text:
                documents.append(Document(page_content=text, metadata={"source": str(path), "title": str(title), "page": number}))
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile files (LimitReachedError, RecursionError, ...)
        raise LoadError(f"corrupt or unreadable PDF ({exc.__class__.__name__}: {str(exc)[:200]})") from exc
    if not documents:
        raise LoadError("the PDF has no extractable text (scanned images need OCR first)")
    return documents


class _MainText(HTMLParser):
    """Visible text of an HTML page: scripts, styles and page chrome are dropped."""

    SKIP = {"script", "style", "noscript", "template", "nav", "header", "footer", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        if tag == "title":
            self._in_title = True
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def load_html(path: Path) -> list[Document]:
    parser = _MainText()
    parser.feed(_read_text(path))
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(line for line in lines if line)
    if not text:
        raise LoadError("the HTML page has no visible text")
    title = " ".join(parser.title.split()) or _title_of(text, path)
    return [Document(page_content=text, metadata={"source": str(path), "title": title})]


def _metadata_key(key) -> str | None:
    """Chroma refuses an empty key (pandas' index column) and reserves '#', '$' and 'chroma:'
    prefixes; such columns keep their values under a '_'-prefixed name instead of failing the file."""
    key = str(key).strip() if key is not None else ""
    if not key:
        return None
    return f"_{key}" if key.startswith(("#", "$", "chroma:")) else key


def _scalar_metadata(row: dict, text_field: str) -> dict:
    """Chroma metadata must be str/int/float/bool; other values are kept as JSON text."""
    meta = {}
    for key, value in row.items():
        name = _metadata_key(key)
        if key == text_field or name is None or value is None or value == "":
            continue
        meta[name] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return meta


def _records(path: Path, rows: Iterable[tuple[int, dict]], text_field: str) -> list[Document]:
    documents = []
    for number, row in rows:
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            continue
        meta = _scalar_metadata(row, text_field)
        meta.update(source=str(path), row=number, title=str(row.get("title") or f"{path.stem} #{number}"))
        documents.append(Document(page_content=text, metadata=meta))
    if not documents:
        raise LoadError(f"no rows with a non-empty '{text_field}' field")
    return documents


def load_jsonl(path: Path, text_field: str = "text") -> list[Document]:
    rows = []
    try:
        parsed = list(iter_jsonl(_read_text(path).splitlines()))
    except JsonlError as exc:
        raise LoadError(str(exc)) from exc
    for number, row in parsed:
        if isinstance(row, dict):
            try:  # "\ud800" escapes decode to lone surrogates, which no store or embedder can take
                json.dumps(row, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise LoadError(f"line {number} holds text that is not valid Unicode (an unpaired "
                                f"surrogate escape such as \\ud800)") from exc
            rows.append((number, row))
    return _records(path, rows, text_field)


def load_csv(path: Path, text_field: str = "text") -> list[Document]:
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    try:
        if text_field not in (reader.fieldnames or []):
            raise LoadError(f"no '{text_field}' column (columns: {', '.join(reader.fieldnames or [])})")
        rows = list(enumerate(reader, 2))
    except csv.Error as exc:
        # The reader caps a field at 128 KB; a field that long is nearly always an unclosed quote
        # swallowing the rest of the file.
        limit_kb = csv.field_size_limit() // 1024
        reason = (f"a field is over {limit_kb} KB" if "field limit" in str(exc) else f"malformed CSV ({exc})")
        # line_num counts the lines read before the failing record, which starts on the next one
        raise LoadError(f"{reason} in the row starting on line {reader.line_num + 1}; check for an unclosed quote") from exc
    return _records(path, rows, text_field)


def load_file(path: Path, text_field: str = "text", max_bytes: int = 50_000_000) -> list[Document]:
    if not path.exists():
        raise LoadError("no such file or folder")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type '{suffix or path.name}' (supported: {', '.join(SUPPORTED)})")
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(f"the file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    if suffix == ".pdf":
        return load_pdf(path)
    if suffix in (".html", ".htm"):
        return load_html(path)
    if suffix == ".jsonl":
        return load_jsonl(path, text_field)
    if suffix == ".csv":
        return load_csv(path, text_field)
    return load_text(path)


def expand_paths(paths: Iterable[str | Path], glob: str = "**/*") -> tuple[list[Path], dict[str, str]]:
    """Files named directly, plus supported files found recursively in folders."""
    files, errors = [], {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.glob(glob) if p.is_file() and p.suffix.lower() in SUPPORTED)
            if not found:
                errors[str(path)] = f"no supported files matching '{glob}' in this folder"
            files += found
        elif path.exists():
            files.append(path)
        else:
            errors[str(path)] = "no such file or folder"
    return files, errors


def load_paths(paths: Iterable[str | Path], glob: str = "**/*", text_field: str = "text", max_bytes: int = 50_000_000) -> LoadResult:
    files, errors = expand_paths(paths, glob)
    result = LoadResult(errors=errors)
    for path in files:
        try:
            result.documents += load_file(path, text_field, max_bytes)
            result.files.append(str(path))
        except LoadError as exc:
            result.errors[str(path)] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a loader bug or an unforeseen file must cost one file, not the batch
            result.errors[str(path)] = f"could not read this file ({exc.__class__.__name__}: {str(exc)[:200]})"
    return result
