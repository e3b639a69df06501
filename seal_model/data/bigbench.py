"""Questions and passages from the `bigbench==1.0.0` sdist, read straight from the tarball.

- contextual_parametric_knowledge_conflicts: Natural Questions with their Wikipedia paragraph,
  where the answer was swapped for another name; we swap it back to restore the true text.
- disfl_qa: disfluent rewrites of SQuAD questions over their paragraphs (spontaneous style).
- vitaminc_fact_verification: short Wikipedia snippets, used as distractor passages.

Passages are split train/dev/test by a stable hash of their text, so no passage has
questions on two sides of the split.
"""
from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from seal_model.jsonl import read_jsonl, write_jsonl

TASKS = "bigbench-1.0.0/bigbench/benchmark_tasks/{}/task.json"
SPLITS = (("test", 0.10), ("dev", 0.05), ("train", 0.85))


@dataclass
class CorpusPassage:
    """A training-corpus row (with its split); `knowledge_base.store.Passage` is a search hit."""

    id: str
    text: str
    title: str = ""
    source: str = ""
    split: str = ""


@dataclass
class Question:
    id: str
    text: str
    gold: list[str] = field(default_factory=list)
    source: str = ""
    split: str = ""
    answers: list[str] = field(default_factory=list)  # the task's target: answer keys for `eval --answers`


def stable_id(text: str, prefix: str = "p") -> str:
    return prefix + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def split_of(passage_text: str) -> str:
    """train / dev / test from a hash of the passage; stable across runs and machines."""
    bucket = int(hashlib.sha256(passage_text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if bucket < edge:
            return name
    return SPLITS[-1][0]


_DETOKENIZE = [
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" ' s\b"), "'s"),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r"`` ?| ?''"), '"'),
    (re.compile(r" - "), "-"),
    (re.compile(r"\s+"), " "),
]


def detokenize(text: str) -> str:
    """Undo the PTB-style spacing of these corpora ("Phineas 's ( voiced )") for readable text."""
    for pattern, repl in _DETOKENIZE:
        text = pattern.sub(repl, text)
    return text.strip()


def _task(tar: tarfile.TarFile, name: str) -> list[dict]:
    member = tar.extractfile(TASKS.format(name))
    if member is None:
        raise ValueError(f"bigbench task {name} not found in the sdist")
    return json.load(member)["examples"]


# Each reader yields (question, context, acceptable answers).
def _knowledge_conflicts(examples: list[dict]) -> Iterator[tuple[str, str, list[str]]]:
    for example in examples:
        question, _, context = example["input"].partition("\nContext:")
        question = question.replace("Question:", "").strip()
        swapped = example["target"]
        original = next((k for k, v in example["target_scores"].items() if v == 0), None)
        if not original or not context.strip():
            continue
        yield question, context.replace(swapped, original), [original]  # the answer the swap had replaced


def _disfl_qa(examples: list[dict]) -> Iterator[tuple[str, str, list[str]]]:
    for example in examples:
        question, _, context = example["input"].partition("\ncontext:")
        if context.strip():
            target = example.get("target", "")
            yield question.strip(), context, [target] if isinstance(target, str) and target.strip() else []


def _vitaminc(examples: list[dict]) -> Iterator[tuple[str, str]]:
    for example in examples:
        evidence = example["input"].split("\nClaim:")[0]
        title, _, sentence = evidence.partition(": ")
        yield title.strip(), sentence


# What each `source` tag means, for the data card (which counts clips per tag from the shards).
SOURCE_NAMES = {
    "nq": "Natural Questions (contextual_parametric_knowledge_conflicts, answer swap undone)",
    "disfl_qa": "Disfl-QA questions",
    "squad": "SQuAD passage sentences (Disfl-QA contexts)",
    "vitaminc": "VitaminC evidence sentences",
}


def read_bigbench(sdist: str | Path) -> tuple[list[CorpusPassage], list[Question]]:
    """All passages (deduplicated by text) and questions with their gold passage ids."""
    passages: dict[str, CorpusPassage] = {}
    questions: dict[str, Question] = {}

    def add_passage(text: str, source: str, title: str = "") -> str:
        text = detokenize(text)
        pid = stable_id(text)
        if pid not in passages:
            passages[pid] = CorpusPassage(pid, text, title, source, split_of(text))
        return pid

    def add_question(text: str, pid: str, source: str, answers: list[str]) -> None:
        text = detokenize(text)
        qid = stable_id(f"{source}|{text}|{pid}", prefix="q")
        if text and qid not in questions:
            questions[qid] = Question(qid, text, [pid], source, passages[pid].split, [detokenize(a) for a in answers])

    with tarfile.open(sdist, "r:gz") as tar:
        for question, context, answers in _knowledge_conflicts(_task(tar, "contextual_parametric_knowledge_conflicts")):
            add_question(question, add_passage(context, "nq"), "nq", answers)
        for question, context, answers in _disfl_qa(_task(tar, "disfl_qa")):
            add_question(question, add_passage(context, "squad"), "disfl_qa", answers)
        for title, sentence in _vitaminc(_task(tar, "vitaminc_fact_verification")):
            if len(sentence.split()) >= 5:
                add_passage(sentence, "vitaminc", detokenize(title))
    return list(passages.values()), list(questions.values())


SDIST = "bigbench-1.0.0.tar.gz"


SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
SIMPLE_INDEX = "https://pypi.org/simple/bigbench/"


def download_sdist(dest: Path, index_url: str = SIMPLE_INDEX) -> Path:
    """Fetch the sdist from PyPI's simple index without installing it (it pins an old
    TensorFlow stack). Not `pip download`: newer pips build the sdist's metadata first, and
    bigbench declares a direct-URL dependency that they refuse. The file is checked against
    its pinned SHA-256."""
    import hashlib
    import re
    import urllib.request

    target = dest / SDIST
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(index_url, timeout=60) as response:
        page = response.read().decode()
    match = re.search(rf'href="([^"#]+/{re.escape(SDIST)})#sha256=([0-9a-f]+)"', page)
    if not match or match.group(2) != SDIST_SHA256:
        raise RuntimeError(f"{SDIST} with sha256 {SDIST_SHA256} not listed at {index_url}")
    partial = target.with_suffix(".part")
    with urllib.request.urlopen(match.group(1), timeout=300) as response, open(partial, "wb") as fh:
        fh.write(response.read())
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        partial.unlink()
        raise RuntimeError(f"downloaded {SDIST} has sha256 {digest}, expected {SDIST_SHA256}")
    partial.rename(target)
    return target


def build_corpus(raw_dir: Path, corpus_dir: Path) -> tuple[int, int]:
    """passages.jsonl + questions.jsonl under corpus_dir; skipped when already there (and made
    since questions carry answer keys: an older corpus is rebuilt, with the same ids)."""
    if (corpus_dir / "questions.jsonl").exists() and (corpus_dir / "passages.jsonl").exists():
        questions = read_jsonl(corpus_dir / "questions.jsonl")
        if not questions or "answers" in questions[0]:
            return len(read_jsonl(corpus_dir / "passages.jsonl")), len(questions)
    passages, questions = read_bigbench(download_sdist(raw_dir))
    write_jsonl(corpus_dir / "passages.jsonl", passages)
    write_jsonl(corpus_dir / "questions.jsonl", questions)
    return len(passages), len(questions)
