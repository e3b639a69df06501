"""JSON Lines, read and written in one place: the corpus, evaluation sets, question files and
uploaded documents all report a bad line the same way, by its number."""
from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator


class JsonlError(ValueError):
    """A line that is not JSON; `line` is 1-based and `reason` reads after "line N is"."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line} is {reason}")
        self.line, self.reason = line, reason


def iter_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JsonlError(number, f"not valid JSON ({exc.msg})") from exc
        except RecursionError as exc:  # a line of 100k brackets: refused, not a crash
            raise JsonlError(number, "nested too deeply to read") from exc
        yield number, value


def read_jsonl(path: str | Path) -> list[Any]:
    with open(path, encoding="utf-8") as fh:
        return [value for _, value in iter_jsonl(fh)]


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """Rows (dicts or dataclasses) to `path`, atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(asdict(row) if is_dataclass(row) else row) + "\n")
    tmp.replace(path)
