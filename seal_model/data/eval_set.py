"""Evaluation sets on disk, and builders for ours, always in voices never trained on:
- `build_eval_set`: bigbench's own test-split questions (same lists and style as training);
- `build_written_set`: questions written by hand about test-split passages (`sets/*.jsonl`),
  phrased as people ask, full of names, plus noisy and fast variants: the out-of-distribution
  check, since a set in the training data's style overstated SEAL (0.84x ASR there, 0.60x on
  fresh questions).

Format (a folder): `passages.jsonl` ({"id", "text", "title"?}), `queries.jsonl` ({"id",
"audio": path relative to the folder, "text"?, "gold": [passage ids], "voice"?,
"condition"?}) and the audio files. Anyone can drop in another set in the same format.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import soundfile as sf

from seal_model.audio import SAMPLE_RATE
from seal_model.data.augment import babble, clip_rng, colored_noise, mix_at_snr, sox_effects
from seal_model.jsonl import JsonlError, iter_jsonl, read_jsonl
from seal_model.voices import HELD_OUT_VOICES, NEVER_TRAINED, TRAIN_VOICES, synthesize, synthesize_many

WRITTEN_SETS = Path(__file__).parent / "sets"
WRITTEN_VOICES = ("piper:joe", "hibari:heart", "flite:slt", "festival:slt")
# Each question is also heard once with noise (pink or babble, alternating) and once 15% faster,
# each time in the next voice of the list, so conditions are not confounded with one voice.
WRITTEN_CONDITIONS = ("noise10", "tempo1.15")


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
    answers: list[str] = field(default_factory=list)  # acceptable short answers (answer-level evaluation)


@dataclass
class EvalSet:
    folder: Path
    passages: list[dict]
    queries: list[EvalQuery]


def _lines(path: Path):
    if not path.is_file():
        raise EvalSetError(f"{path} is missing")
    with open(path, encoding="utf-8") as fh:
        try:
            for number, row in iter_jsonl(fh):
                if not isinstance(row, dict):
                    raise EvalSetError(f"{path}:{number}: expected a JSON object")
                yield number, row
        except JsonlError as exc:
            raise EvalSetError(f"{path}:{exc.line}: {exc.reason}") from exc


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
        answers = row.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise EvalSetError(f"{where}: 'answers' must be a list of non-empty strings")
        queries.append(EvalQuery(row["id"], audio, gold, row.get("text", ""), row.get("voice", ""), row.get("condition", ""),
                                 answers))
    if not queries:
        raise EvalSetError(f"{folder / 'queries.jsonl'}: no queries")
    return EvalSet(folder, passages, queries)


def _write_clip(path: Path, audio) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, audio, SAMPLE_RATE, format="FLAC")
    tmp.replace(path)


def _knowledge_base(corpus_dir: Path, kb_size: int, rng: random.Random) -> list[dict]:
    """Every test-split passage plus a seeded sample of the others as distractors."""
    all_passages = read_jsonl(corpus_dir / "passages.jsonl")
    kb = [p for p in all_passages if p["split"] == "test"]
    others = [p for p in all_passages if p["split"] != "test"]
    return kb + rng.sample(others, max(0, min(kb_size - len(kb), len(others))))


def _write_passages(out_dir: Path, kb: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "passages.jsonl", "w") as fh:
        for p in kb:
            fh.write(json.dumps({"id": p["id"], "text": p["text"], "title": p.get("title", "")}) + "\n")


def _clip_name(qid: str, voice: str, condition: str = "") -> str:
    return f"audio/{qid}_{voice.replace(':', '-').replace('+', '_')}{'_' + condition if condition else ''}.flac"


def build_written_set(
    corpus_dir: Path,
    out_dir: Path,
    questions_file: Path = WRITTEN_SETS / "ood-names.jsonl",
    voices: tuple[str, ...] = WRITTEN_VOICES,
    kb_size: int = 20000,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Hand-written questions (`{"id", "text", "gold", "answers"}` about test-split passages)
    spoken in every held-out voice, plus one noisy (10 dB pink or babble) and one 1.15x-tempo
    clip each. Resumable; the audio is a function of (voice, text, seed)."""
    bad = [v for v in voices if v not in NEVER_TRAINED]
    if bad:
        raise ValueError(f"voices {bad} are not held-out voices; an evaluation must use speakers never trained on")
    questions = read_jsonl(questions_file)
    test_ids = {p["id"] for p in read_jsonl(corpus_dir / "passages.jsonl") if p["split"] == "test"}
    trained_on = [q["id"] for q in questions if not set(q["gold"]) <= test_ids]
    if trained_on:
        raise ValueError(f"{questions_file}: gold passages outside the test split ({trained_on[:3]}): training saw them")
    kb = _knowledge_base(corpus_dir, kb_size, random.Random(seed))
    _write_passages(out_dir, kb)
    rows, clean = [], {}
    for voice in voices:  # one voice at a time: festival speaks a whole list in one process
        missing = [q for q in questions if not (out_dir / _clip_name(q["id"], voice)).exists()]
        for start in range(0, len(missing), 25):
            chunk = missing[start : start + 25]
            for q, audio in zip(chunk, synthesize_many(voice, [q["text"] for q in chunk])):
                _write_clip(out_dir / _clip_name(q["id"], voice), audio)
            log(f"{voice}: {start + len(chunk)}/{len(missing)} new clips")
    for q in questions:
        for voice in voices:
            clean[(q["id"], voice)] = name = _clip_name(q["id"], voice)
            rows.append({"id": f"{q['id']}@{voice}", "audio": name, "voice": voice, "condition": "clean"})
    babble_pool = [name for name in clean.values()]
    for n, q in enumerate(questions):
        for k, condition in enumerate(WRITTEN_CONDITIONS):
            voice = voices[(n + k + 1) % len(voices)]
            name = _clip_name(q["id"], voice, condition)
            if not (out_dir / name).exists():
                audio, _ = sf.read(out_dir / clean[(q["id"], voice)], dtype="float32")
                rng = clip_rng(f"{q['id']}|{condition}", seed)
                if condition == "tempo1.15":
                    audio = sox_effects(audio, ["tempo", "1.15"])
                elif n % 2:  # babble of other questions' clips (never this question's own)
                    others = [sf.read(out_dir / babble_pool[int(i)], dtype="float32")[0]
                              for i in rng.choice(len(babble_pool), min(8, len(babble_pool)), replace=False)
                              if not babble_pool[int(i)].startswith(f"audio/{q['id']}_")]
                    audio = mix_at_snr(audio, babble(len(audio), others, rng), 10)
                else:
                    audio = mix_at_snr(audio, colored_noise("pink", len(audio), rng), 10)
                _write_clip(out_dir / name, audio)
            label = condition if condition != "noise10" else ("babble10" if n % 2 else "pink10")
            rows.append({"id": f"{q['id']}@{voice}@{label}", "audio": name, "voice": voice, "condition": label})
        if (n + 1) % 25 == 0:
            log(f"{n + 1}/{len(questions)} questions spoken")
    by_id = {q["id"]: q for q in questions}
    order = {q["id"]: n for n, q in enumerate(questions)}
    rows.sort(key=lambda row: order[row["id"].split("@")[0]])  # question by question: any prefix is balanced
    with open(out_dir / "queries.jsonl", "w") as fh:
        for row in rows:
            q = by_id[row["id"].split("@")[0]]
            fh.write(json.dumps({**row, "text": q["text"], "gold": q["gold"], "answers": q.get("answers", [])}) + "\n")
    log(f"{len(rows)} queries ({len(questions)} questions), {len(kb)} passages in {out_dir}")
    return out_dir


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
    test_q = [q for q in read_jsonl(corpus_dir / "questions.jsonl") if q["split"] == "test" and q["source"] == source]
    chosen = sorted(rng.sample(test_q, min(questions, len(test_q))), key=lambda q: q["id"])
    kb = _knowledge_base(corpus_dir, kb_size, rng)
    _write_passages(out_dir, kb)
    rows = []
    for n, q in enumerate(chosen):
        for voice in voices:
            name = _clip_name(q["id"], voice)
            if not (out_dir / name).exists():
                _write_clip(out_dir / name, synthesize(voice, q["text"]))
            rows.append({"id": f"{q['id']}@{voice}", "audio": name, "text": q["text"], "gold": q["gold"], "voice": voice,
                         "answers": q.get("answers", [])})
        if (n + 1) % 100 == 0:
            log(f"{n + 1}/{len(chosen)} questions spoken")
    with open(out_dir / "queries.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    log(f"{len(rows)} queries, {len(kb)} passages in {out_dir}")
    return out_dir
