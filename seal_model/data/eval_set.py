"""Evaluation sets on disk, and a builder for ours from the test split in held-out voices.

Format (a folder): `passages.jsonl` ({"id", "text", "title"?}), `queries.jsonl` ({"id",
"audio": path relative to the folder, "text"?, "gold": [passage ids], "voice"?,
"condition"?}) and the audio files. Anyone can drop in another set in the same format.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import soundfile as sf

from seal_model.data.bigbench import read_jsonl
from seal_model.data.voices import HELD_OUT_VOICES, TRAIN_VOICES, synthesize


class EvalSetError(ValueError):
    """A malformed evaluation set; the message names the file and line."""


@dataclass
class EvalQuery:
    id: str
    audio: Path
    gold: list[str]
    text: str = ""
    voice: str = ""
    condition: str = ""


@dataclass
class EvalSet:
    folder: Path
    passages: list[dict]
    queries: list[EvalQuery]


def _lines(path: Path):
    if not path.is_file():
        raise EvalSetError(f"{path} is missing")
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise EvalSetError(f"{path}:{number}: expected a JSON object")
            yield number, row


def load_eval_set(folder: str | Path) -> EvalSet:
    """Read and validate a set; every problem is reported with its file and line number."""
    folder = Path(folder)
    passages, seen = [], set()
    for number, row in _lines(folder / "passages.jsonl"):
        if not isinstance(row.get("id"), str) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise EvalSetError(f"{folder / 'passages.jsonl'}:{number}: needs a string 'id' and non-empty 'text'")
        if row["id"] in seen:
            raise EvalSetError(f"{folder / 'passages.jsonl'}:{number}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        passages.append(row)
    queries = []
    for number, row in _lines(folder / "queries.jsonl"):
        where = f"{folder / 'queries.jsonl'}:{number}"
        if not isinstance(row.get("id"), str) or not isinstance(row.get("audio"), str):
            raise EvalSetError(f"{where}: needs string 'id' and 'audio'")
        gold = row.get("gold")
        if not isinstance(gold, list) or not gold or not all(g in seen for g in gold):
            raise EvalSetError(f"{where}: 'gold' must be a non-empty list of passage ids from passages.jsonl")
        audio = folder / row["audio"]
        if not audio.is_file():
            raise EvalSetError(f"{where}: audio file {row['audio']} not found")
        queries.append(EvalQuery(row["id"], audio, gold, row.get("text", ""), row.get("voice", ""), row.get("condition", "")))
    if not queries:
        raise EvalSetError(f"{folder / 'queries.jsonl'}: no queries")
    return EvalSet(folder, passages, queries)


def build_eval_set(
    corpus_dir: Path,
    out_dir: Path,
    voices: tuple[str, ...] = HELD_OUT_VOICES,
    questions: int = 400,
    kb_size: int = 12000,
    source: str = "nq",
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Test-split questions spoken in voices never trained on, against >= kb_size passages
    (all test-split passages plus a seeded sample of the rest as distractors). Resumable."""
    bad = [v for v in voices if v in TRAIN_VOICES]
    if bad:
        raise ValueError(f"voices {bad} are training voices; an evaluation must use held-out speakers")
    rng = random.Random(seed)
    all_passages = read_jsonl(corpus_dir / "passages.jsonl")
    test_q = [q for q in read_jsonl(corpus_dir / "questions.jsonl") if q["split"] == "test" and q["source"] == source]
    chosen = sorted(rng.sample(test_q, min(questions, len(test_q))), key=lambda q: q["id"])
    kb = [p for p in all_passages if p["split"] == "test"]
    others = [p for p in all_passages if p["split"] != "test"]
    kb += rng.sample(others, max(0, min(kb_size - len(kb), len(others))))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "passages.jsonl", "w") as fh:
        for p in kb:
            fh.write(json.dumps({"id": p["id"], "text": p["text"], "title": p.get("title", "")}) + "\n")
    rows = []
    for n, q in enumerate(chosen):
        for voice in voices:
            name = f"audio/{q['id']}_{voice.replace(':', '-').replace('+', '_')}.flac"
            path = out_dir / name
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                tmp = path.with_suffix(".tmp.flac")
                sf.write(tmp, synthesize(voice, q["text"]), 16000, format="FLAC")
                tmp.replace(path)
            rows.append({"id": f"{q['id']}@{voice}", "audio": name, "text": q["text"], "gold": q["gold"], "voice": voice})
        if (n + 1) % 100 == 0:
            log(f"{n + 1}/{len(chosen)} questions spoken")
    with open(out_dir / "queries.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    log(f"{len(rows)} queries, {len(kb)} passages in {out_dir}")
    return out_dir
