"""`seal-rag eval-answers`: does the whole turn give the right answer?

Retrieval metrics never showed that a garbled question text or a weak LLM spoils the answer,
so this runs the full pipeline turn per query and mode (seal / asr / text) with the configured
LLM and scores what comes out:
- accuracy: any acceptable answer string of the query (`"answers"` in queries.jsonl) occurs in
  the reply, case and punctuation ignored, on word boundaries ("Paris" is not in "Parisian");
- abstention: the reply is the plain "The documents don't say." (rag_app.reply);
- citations: share of replies that cite a passage, and of those, share whose cited passages
  include a gold one;
- gold in passages: the gold passage was among those the LLM read (so a wrong answer can be
  told apart from a retrieval miss);
- time to first token (of the turn, to the first text released) and reply length in words.
`without_gold=True` hides each query's gold passages from the search: every answer should
then be the abstention, which measures how often the LLM makes one up instead.

The set's passages are searched in a temporary index (the vectors `seal-rag eval` caches in
the set's folder), so retrieval is exactly what `seal-rag eval` measures.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence, TypeVar

import numpy as np

from knowledge_base.store import Passage
from rag_app.latency import percentiles
from rag_app.reply import ABSTAIN

T = TypeVar("T")
MODES = ("seal", "asr", "text")


def spread(items: Sequence[T], limit: int | None) -> list[T]:
    """`limit` items evenly spaced over the sequence (all when limit is None or too large):
    the written sets list each question in every voice and condition in a row, so the first N
    would be a few questions only."""
    if not limit or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def normalize(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space, padded: ' the eiffel tower '."""
    return " " + " ".join(re.findall(r"[0-9a-z]+", text.lower())) + " "


def is_correct(answer: str, acceptable: list[str]) -> bool:
    said = normalize(answer)
    return any(normalize(a).strip() and normalize(a) in said for a in acceptable)


def is_abstention(answer: str) -> bool:
    return normalize(answer) == normalize(ABSTAIN)


class SetKnowledgeBase:
    """The pipeline's `search` over an eval set's temporary index, returning the passages' text.
    `hidden` (passage ids) are left out of the results: the gold-removed measurement."""

    def __init__(self, index, passages: list[dict]):
        self.index, self.by_id = index, {p["id"]: p for p in passages}
        self.hidden: set[str] = set()

    def search(self, vector: np.ndarray, k: int = 4) -> list[Passage]:
        found = self.index.collection.query(query_embeddings=[np.asarray(vector, np.float32).tolist()],
                                            n_results=k + len(self.hidden), include=["distances"])
        pairs = [(pid, d) for pid, d in zip(found["ids"][0], found["distances"][0]) if pid not in self.hidden]
        return [Passage(pid, self.by_id[pid]["text"], 1.0 - float(d), {"title": self.by_id[pid].get("title", "")})
                for pid, d in pairs[:k]]


@dataclass
class AnswerResult:
    query_id: str
    mode: str
    group: dict[str, str]
    heard: str
    answer: str
    correct: bool
    abstained: bool
    cited: list[str]  # passage ids the reply cites
    citation_correct: bool | None  # None when nothing is cited
    gold_in_passages: bool
    first_token_ms: float | None
    words: int
    notice: str = ""


def run_turn(pipeline, query, mode: str, audio: np.ndarray | None) -> AnswerResult:
    """One whole turn through the pipeline, scored."""
    events: dict = {"token": []}
    kwargs = {"text": query.text} if mode == "text" else {"audio": audio}
    for event in pipeline.answer(mode=mode, **kwargs):
        events["token"].append(event.data) if event.kind == "token" else events.__setitem__(event.kind, event.data)
    answer = "".join(events["token"]).strip()
    passages: list[Passage] = events.get("passages", [])
    citations = events.get("citations")
    cited = [passages[n - 1].id for n in citations.numbers] if citations else []
    trace = events["trace"]
    return AnswerResult(
        query.id, mode, {"voice": query.voice or "-", "condition": query.condition or "clean"},
        events.get("heard", query.text if mode == "text" else ""), answer,
        is_correct(answer, query.answers), is_abstention(answer), cited,
        (bool(set(cited) & set(query.gold)) if cited else None),
        bool({p.id for p in passages} & set(query.gold)), trace.first_token_ms, len(answer.split()),
        events.get("notice", ""),
    )


def summarize(results: list[AnswerResult]) -> dict:
    n = max(len(results), 1)
    cited = [r for r in results if r.citation_correct is not None]
    ttft = [r.first_token_ms for r in results if r.first_token_ms is not None]
    return {
        "n": len(results),
        "accuracy": sum(r.correct for r in results) / n,
        "abstention": sum(r.abstained for r in results) / n,
        "cited": len(cited) / n,
        "citation_correct": (sum(bool(r.citation_correct) for r in cited) / len(cited)) if cited else None,
        "gold_in_passages": sum(r.gold_in_passages for r in results) / n,
        "first_token_ms": percentiles(ttft),
        "words_mean": float(np.mean([r.words for r in results])) if results else 0.0,
    }


@dataclass
class AnswerReport:
    set_name: str
    llm: str
    question_text: str
    without_gold: bool
    overall: dict[str, dict] = field(default_factory=dict)
    by_group: dict[str, dict[str, dict]] = field(default_factory=dict)
    answers: dict[str, list[dict]] = field(default_factory=dict)  # mode -> one row per query


def evaluate_answers(eval_set, pipeline, modes: tuple[str, ...] = MODES, queries=None, without_gold: bool = False,
                     question_text: str = "", log: Callable[[str], None] = print) -> AnswerReport:
    """Every query that has answers, in every mode, through `pipeline` (its `kb` a
    `SetKnowledgeBase` over the set's passages)."""
    from dataclasses import asdict

    from rag_app.audio import decode_audio

    queries = [q for q in (queries if queries is not None else eval_set.queries) if q.answers]
    if not queries:
        raise ValueError(f"{eval_set.folder}: no query has 'answers'; answer-level evaluation needs them")
    results: dict[str, list[AnswerResult]] = defaultdict(list)
    started = time.perf_counter()
    for n, query in enumerate(queries):
        audio = decode_audio(query.audio) if set(modes) - {"text"} else None
        pipeline.kb.hidden = set(query.gold) if without_gold else set()
        for mode in modes:
            results[mode].append(run_turn(pipeline, query, mode, audio))
        log(f"{n + 1}/{len(queries)} ({time.perf_counter() - started:.0f} s) {query.id}: " + " | ".join(
            f"{m} {'ok' if results[m][-1].correct else 'abstained' if results[m][-1].abstained else 'wrong'}"
            for m in modes))
    pipeline.kb.hidden = set()
    llm = getattr(pipeline.llm, "name", "") if pipeline.llm is not None else ""
    report = AnswerReport(eval_set.folder.name, llm, question_text, without_gold)
    for mode in modes:
        report.overall[mode] = summarize(results[mode])
        report.answers[mode] = [asdict(r) for r in results[mode]]
        for key in ("voice", "condition"):
            for value in sorted({r.group[key] for r in results[mode]}):
                report.by_group.setdefault(f"{key}={value}", {})[mode] = summarize(
                    [r for r in results[mode] if r.group[key] == value])
    return report


def format_answer_report(report: AnswerReport) -> str:
    gold = ", gold passages hidden" if report.without_gold else ""
    lines = [f"set {report.set_name}: LLM {report.llm or '-'}, SEAL question text {report.question_text or '-'}{gold}", ""]
    lines.append(f"{'':<24}{'mode':<6}{'n':>5}{'acc':>7}{'abst':>7}{'cited':>7}{'cite ok':>8}{'gold in':>8}"
                 f"{'TTFT p50':>10}{'p95':>8}{'words':>7}")
    for name, by_mode in [("overall", report.overall)] + sorted(report.by_group.items()):
        for mode, m in by_mode.items():
            cite_ok = f"{m['citation_correct']:>8.2f}" if m["citation_correct"] is not None else f"{'-':>8}"
            lines.append(f"{name:<24}{mode:<6}{m['n']:>5}{m['accuracy']:>7.2f}{m['abstention']:>7.2f}{m['cited']:>7.2f}"
                         f"{cite_ok}{m['gold_in_passages']:>8.2f}{m['first_token_ms']['p50_ms']:>10.0f}"
                         f"{m['first_token_ms']['p95_ms']:>8.0f}{m['words_mean']:>7.1f}")
    return "\n".join(lines)
