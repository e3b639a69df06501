"""`seal-rag eval --answers`: answer-level evaluation, the whole turn per query with the configured LLM.

Retrieval metrics never showed that a correct passage can still give a wrong answer (a garbled
question read by the LLM, a model that loops). This runs `Pipeline.answer` itself, per query and
mode, over the set's passages, and scores what a user would hear:
- accuracy: an acceptable answer string appears in the reply (case, accents and punctuation
  ignored, whole words);
- abstention: the reply says the documents do not answer (with `--without-gold` the gold passages
  are taken out of the knowledge base, so abstaining is then the right reply);
- citation: the reply cites a gold passage (only when it cites anything);
- time to first token from the start of the turn, and reply length in words.
"""
from __future__ import annotations

import re
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Callable

from evaluation.evaluate import TempIndex, passage_index, query_group, scores_by_group
from evaluation.latency import percentiles
from knowledge_base.store import Passage
from rag_app.pipeline import Pipeline
from rag_app.trace import EventKind
from seal_model.data.eval_set import EvalSet

# What "the documents don't say" looks like in the replies of the models we run; the prompt asks
# for the first phrasing, the others are how small models paraphrase it.
_ABSTAIN = re.compile(
    r"documents? (do(es)?n'?t|do(es)? not) (say|mention|contain|answer)|"
    r"(do(es)?n'?t|do(es)? not|cannot|can'?t) (know|find|answer|tell)|"
    r"no (information|mention)|not (mentioned|stated|provided|given) in|passages? (do(es)?n'?t|do(es)? not)",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Lower case, accents folded (Gaißau ~ gaissau), punctuation to spaces, single-spaced."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def answer_correct(reply: str, acceptable: list[str]) -> bool:
    """Any acceptable answer appears in the reply as whole words."""
    said = f" {normalise(reply)} "
    return any(f" {normalise(a)} " in said for a in acceptable if normalise(a))


def abstained(reply: str) -> bool:
    return bool(_ABSTAIN.search(reply)) or not reply.strip()


class IndexKnowledgeBase:
    """The set's passages (a `TempIndex`) behind the knowledge base's `search`, so the pipeline
    runs unchanged; `hidden` ids are never returned (the without-gold condition)."""

    def __init__(self, index: TempIndex, passages: list[dict]):
        self.index, self.by_id = index, {p["id"]: p for p in passages}
        self.hidden: set[str] = set()

    def search(self, vector, k: int) -> list[Passage]:
        ids = [i for i in self.index.search(vector[None], k + len(self.hidden))[0] if i not in self.hidden][:k]
        scores = self.index.score(vector, ids)
        return [Passage(i, self.by_id[i]["text"], score, {"source": self.by_id[i].get("title", "")})
                for i, score in zip(ids, scores)]


class RememberedTranscriber:
    """Whisper's transcripts do not depend on the SEAL checkpoint or the LLM: a transcript made by
    an earlier run (`seal-rag eval` keeps them in the set's folder) is reused with the time it
    took, which is added back to the turn's time to first token."""

    def __init__(self, transcriber, transcripts: dict[str, list]):
        self.transcriber, self.transcripts = transcriber, transcripts
        self.key, self.reused_ms = "", 0.0

    def decode_states(self, states, seconds: float, audio=None) -> str:  # question_text="decoder": never remembered
        return self.transcriber.decode_states(states, seconds, audio=audio)

    def transcribe(self, audio) -> str:
        if self.key in self.transcripts:
            text, self.reused_ms = self.transcripts[self.key]
            return text
        started = time.perf_counter()
        text = self.transcriber.transcribe(audio)
        self.transcripts[self.key] = [text, (time.perf_counter() - started) * 1000]
        self.reused_ms = 0.0
        return text


@dataclass
class AnswerResult:
    query_id: str
    mode: str
    group: dict[str, str]
    heard: str
    reply: str
    correct: bool
    abstained: bool
    cited_gold: bool | None  # None: nothing cited
    gold_retrieved: bool  # a gold passage was among those the LLM read
    top_score: float | None  # the best passage's cosine (what the abstain_below gate compares)
    first_token_ms: float | None
    words: int


@dataclass
class AnswerReport:
    set_name: str
    llm: str
    without_gold: bool
    overall: dict[str, dict] = field(default_factory=dict)
    by_group: dict[str, dict[str, dict]] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)


def summarise(results: list[AnswerResult]) -> dict:
    n = max(len(results), 1)
    cited = [r.cited_gold for r in results if r.cited_gold is not None]
    ttft = [r.first_token_ms for r in results if r.first_token_ms is not None]
    return {
        "n": len(results),
        "accuracy": sum(r.correct for r in results) / n,
        "abstention": sum(r.abstained for r in results) / n,
        "citation_correct": sum(cited) / len(cited) if cited else float("nan"),
        "gold_retrieved": sum(r.gold_retrieved for r in results) / n,
        "words_mean": sum(r.words for r in results) / n,
        **{f"first_token_{k}": v for k, v in percentiles(ttft).items()},
    }


def run_turn(pipeline: Pipeline, query, mode: str, kb: IndexKnowledgeBase) -> AnswerResult:
    heard, passages, reply, cited, trace = "", [], "", None, None
    source = {"text": query.text} if mode == "text" else {"audio": query.audio}
    for event in pipeline.answer(mode=mode, **source):
        if event.kind is EventKind.HEARD:
            heard = event.data
        elif event.kind is EventKind.PASSAGES:
            passages = event.data
        elif event.kind is EventKind.REPLY:  # the reply as kept, not every piece shown on the way
            reply = event.data.strip()
        elif event.kind is EventKind.CITATIONS:
            cited = [passages[n - 1].id for n in event.data.numbers]
        elif event.kind is EventKind.TRACE:
            trace = event.data
    first_token = trace.first_token_ms if trace is not None else None
    if first_token is not None and mode == "asr" and isinstance(pipeline.transcriber, RememberedTranscriber):
        first_token += pipeline.transcriber.reused_ms  # the transcription this turn skipped
    return AnswerResult(
        query.id, mode, query_group(query), heard, reply,
        answer_correct(reply, query.answers), abstained(reply),
        (any(c in query.gold for c in cited) if cited else None),
        any(p.id in query.gold for p in passages), passages[0].score if passages else None,
        first_token, len(reply.split()),
    )


def evaluate_answers(eval_set: EvalSet, pipeline: Pipeline, modes: tuple[str, ...], limit: int | None = None,
                     without_gold: bool = False, log: Callable[[str], None] = print) -> AnswerReport:
    """`pipeline` is built with any knowledge base (it is replaced by the set's passages)."""
    queries = [q for q in eval_set.queries if q.answers][: limit or None]  # limit None or 0: all of them
    if not queries:
        raise ValueError(f"{eval_set.folder / 'queries.jsonl'} has no query with 'answers'")
    index = passage_index(eval_set, pipeline.seal, log)
    pipeline.kb = kb = IndexKnowledgeBase(index, eval_set.passages)
    results: dict[str, list[AnswerResult]] = defaultdict(list)
    typed: dict[str, AnswerResult] = {}  # text mode: a question's clips share one text, and replies are greedy
    try:
        for n, query in enumerate(queries):
            kb.hidden = set(query.gold) if without_gold else set()
            if isinstance(pipeline.transcriber, RememberedTranscriber):
                pipeline.transcriber.key = f"{query.audio.name}|"
            for mode in modes:
                if mode == "text" and query.text in typed:
                    result = replace(typed[query.text], query_id=query.id, group=query_group(query))
                else:
                    result = run_turn(pipeline, query, mode, kb)
                    if mode == "text":
                        typed[query.text] = result
                results[mode].append(result)
            if (n + 1) % 10 == 0:
                log(f"{n + 1}/{len(queries)} queries: " + ", ".join(
                    f"{m} accuracy {summarise(results[m])['accuracy']:.3f}" for m in modes))
    finally:
        index.close()
    return build_report(eval_set.folder.name, getattr(pipeline.llm, "name", "none"), without_gold,
                        {mode: results[mode] for mode in modes})


def build_report(set_name: str, llm: str, without_gold: bool, results: dict[str, list[AnswerResult]]) -> AnswerReport:
    """The report of per-mode results: overall, per voice and condition, and every turn."""
    report = AnswerReport(set_name, llm, without_gold)
    for mode, rows in results.items():
        report.overall[mode] = summarise(rows)
        for name, value in scores_by_group(rows, summarise).items():
            report.by_group.setdefault(name, {})[mode] = value
        report.results += [vars(r) for r in rows]
    return report


def format_answers(report: AnswerReport) -> str:
    lines = [f"set {report.set_name}, LLM {report.llm}" + (", gold passages removed" if report.without_gold else ""),
             "", f"{'':<26}{'mode':<6}{'n':>5}{'accuracy':>10}{'abstain':>9}{'cites gold':>11}{'gold read':>10}"
             f"{'TTFT p50':>10}{'words':>7}"]
    for name, by_mode in [("overall", report.overall)] + sorted(report.by_group.items()):
        for mode, m in by_mode.items():
            lines.append(f"{name:<26}{mode:<6}{m['n']:>5}{m['accuracy']:>10.3f}{m['abstention']:>9.3f}"
                         f"{m['citation_correct']:>11.3f}{m['gold_retrieved']:>10.3f}{m['first_token_p50_ms']:>10.0f}"
                         f"{m['words_mean']:>7.1f}")
    return "\n".join(lines)
