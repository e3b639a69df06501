"""`seal-rag eval`: retrieval accuracy and latency of SEAL vs the ASR pipeline vs the text oracle.

All modes search the same knowledge base (the set's passages embedded by the SEAL text tower
into a temporary Chroma collection), so only the query side differs:
- seal: audio -> SEAL speech tower -> search (no transcription)
- asr:  audio -> Whisper greedy transcription (same weights) -> SEAL text tower -> search
- text: the question's text -> SEAL text tower -> search (what perfect ASR would give)
- reading (diagnostic, not by default): SEAL's own greedy CTC reading of the clip -> text
  tower -> search. How close it comes to `seal` says how much of SEAL is an implicit
  word-piece recogniser; its word error rate says how good that recogniser is.
- fused (diagnostic): the seal vector and the reading's text vector averaged
  (`QuerySide.embed_speech_and_reading`): no transcription, one extra text-tower pass.
- decoder: Whisper's decoder on the encoder states SEAL computed for the trimmed clip
  (`QuerySide.hear` + `decode_question`) -> text tower -> search: what a SEAL turn finally searches
  with and the LLM reads by default (question_text=decoder, seal_search=decoder); SEAL's own
  vector and reading where the decoder gave nothing usable. Its word error rate is that text's.
Latency is measured per query from the decoded waveform to the query embedding. Every mode runs
the app's own query stages (`rag_app.query.QuerySide`), so the figures are what a turn does.

Whisper's transcripts do not depend on the SEAL checkpoint, and transcribing is by far the
slowest part of an evaluation, so a caller may hand in `transcripts` (clip -> [text, ms]):
known clips reuse the text and the transcription time measured when it was made, new ones
are added. The report counts how many were reused.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rag_app.audio import SAMPLE_RATE, decode_audio
from evaluation.latency import percentiles
from rag_app.query import MODES as TURN_MODES, QuerySide
from seal_model.data.eval_set import EvalSet
from seal_model.data.speech_cache import save_npz_atomically

DEFAULT_MODES = TURN_MODES  # what a turn can do; "reading" is a diagnostic an evaluation adds
MODES = (*TURN_MODES, "reading", "fused", "decoder")


@dataclass
class QueryResult:
    query_id: str
    mode: str
    ranked: list[str]
    gold: list[str]
    group: dict[str, str]
    embed_ms: float
    transcript: str = ""


def gold_rank(result: QueryResult) -> int:
    """Rank of the first gold passage in the top 10, 0 when none is there."""
    return next((i + 1 for i, pid in enumerate(result.ranked[:10]) if pid in result.gold), 0)


def metrics(results: list[QueryResult]) -> dict[str, float]:
    """Top-1/3/10 and MRR@10 (a query counts as found at the first gold passage's rank)."""
    ranks = [gold_rank(r) for r in results]
    n = max(len(ranks), 1)
    return {
        "n": len(ranks),
        "top1": sum(1 for k in ranks if k and k <= 1) / n,
        "top3": sum(1 for k in ranks if k and k <= 3) / n,
        "top10": sum(1 for k in ranks if k and k <= 10) / n,
        "mrr10": sum(1.0 / k for k in ranks if k) / n,
    }


def query_group(query, condition: str | None = None) -> dict[str, str]:
    """The rows a query is reported under: its voice and its condition (a perturbation's name wins)."""
    return {"voice": query.voice or "-", "condition": condition or query.condition or "clean"}


def scores_by_group(results: list, score: Callable[[list], dict]) -> dict[str, dict]:
    """{"voice=...": score, "condition=...": score} over results that carry `group` (query_group)."""
    return {f"{key}={value}": score([r for r in results if r.group[key] == value])
            for key in ("voice", "condition") for value in sorted({r.group[key] for r in results})}


class TempIndex:
    """The set's passage vectors, searched exactly (cosine: the vectors are L2-normalised).

    Why not a Chroma collection, as the product uses: its HNSW graph is approximate and differs
    from build to build, and an evaluation must measure the models. A fresh collection per run
    missed a clear nearest passage (cosine 0.49 vs 0.39 for the next) in one build of six on
    `ood-names`, which moved four clips of one question between two runs (stop 29). 20,000
    passages x 384 floats search in a few milliseconds on a CPU."""

    def __init__(self, ids: list[str], vectors: np.ndarray):
        self.ids = list(ids)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._row = {pid: n for n, pid in enumerate(self.ids)}

    def search(self, vectors: np.ndarray, k: int = 10) -> list[list[str]]:
        scores = np.atleast_2d(vectors).astype(np.float32) @ self.vectors.T
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        ordered = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1)
        return [[self.ids[j] for j in row] for row in ordered]

    def score(self, vector: np.ndarray, ids: list[str]) -> list[float]:
        """Cosine of `vector` with the given passages."""
        rows = [self._row[i] for i in ids]
        return [float(x) for x in self.vectors[rows] @ np.asarray(vector, dtype=np.float32)]

    def close(self) -> None:
        """Nothing to release (kept so callers need not know how the index is held)."""


def passage_index(eval_set: EvalSet, seal, log: Callable[[str], None] = print) -> TempIndex:
    """The set's passages in a temporary index. Their vectors are kept in the set's folder under
    the text tower's fingerprint: with the stock text tower every speech checkpoint shares them,
    and 20,000 passages take minutes to embed on two cores."""
    ids = [p["id"] for p in eval_set.passages]
    cache = eval_set.folder / f"passage-vectors-{seal.text_fingerprint}.npz"
    if cache.is_file():
        with np.load(cache) as saved:
            if saved["ids"].tolist() == ids:
                log(f"{len(ids)} passage vectors from {cache.name}")
                return TempIndex(ids, saved["vectors"])
    log(f"embedding {len(ids)} passages with the SEAL text tower ...")
    vectors = seal.embed_text([p["text"] for p in eval_set.passages])
    save_npz_atomically(cache, ids=np.array(ids), vectors=vectors)
    return TempIndex(ids, vectors)


@dataclass
class EvalReport:
    set_name: str
    passages: int
    device: str
    overall: dict[str, dict] = field(default_factory=dict)
    by_group: dict[str, dict[str, dict]] = field(default_factory=dict)
    latency: dict[str, dict] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    # mode -> query id -> gold rank (0 = not in the top 10): two checkpoints' reports on one set
    # can then be compared query by query (`seal-rag compare`), which is far less noisy than
    # comparing two aggregates.
    ranks: dict[str, dict[str, int]] = field(default_factory=dict)
    wer: dict[str, float] = field(default_factory=dict)  # modes with a transcript: word error rate vs the question text
    reused_transcripts: int = 0  # asr queries whose transcript (and its measured time) came from an earlier run


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference words), case and punctuation ignored."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, other in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other))
    return row[-1], len(ref)


def evaluate(
    eval_set: EvalSet,
    seal,  # SealModel
    transcriber=None,  # WhisperTranscriber, for the asr mode
    modes: tuple[str, ...] = DEFAULT_MODES,
    limit: int | None = None,
    log: Callable[[str], None] = print,
    index: "TempIndex | None" = None,
    perturb: Callable[[np.ndarray, str], np.ndarray] | None = None,
    condition: str | None = None,
    transcripts: dict[str, list] | None = None,
) -> EvalReport:
    """`index` reuses embedded passages across calls (the report's many conditions); `perturb`
    (audio, query id) -> audio changes every clip, recorded under `condition`."""
    queries = eval_set.queries[:limit] if limit else eval_set.queries
    owned = index is None
    if owned:
        index = passage_index(eval_set, seal, log)
    results: dict[str, list[QueryResult]] = defaultdict(list)
    reused = 0
    query_side = QuerySide(seal, transcriber)  # the turn's own query stages, so the figures are the app's
    try:
        for n, query in enumerate(queries):
            audio = decode_audio(query.audio) if set(modes) - {"text"} else None  # every mode but text hears the clip
            if audio is not None and perturb is not None:
                audio = perturb(audio, query.id)
            group = query_group(query, condition)
            for mode in modes:
                transcript = ""
                start = time.perf_counter()
                if mode == "seal":
                    vector, _reading = query_side.embed_speech(audio)
                elif mode == "asr":
                    key = f"{query.audio.name}|{condition or ''}"
                    if transcripts is not None and key in transcripts:
                        transcript, asr_ms = transcripts[key]
                        start -= asr_ms / 1000  # the time it took when it was transcribed
                        reused += 1
                    else:
                        transcript = query_side.transcribe(audio)
                        if transcripts is not None:
                            transcripts[key] = [transcript, (time.perf_counter() - start) * 1000]
                    vector = query_side.embed_text(transcript)
                elif mode == "reading":
                    _vector, transcript = query_side.embed_speech(audio)
                    vector = query_side.embed_text(transcript)
                elif mode == "fused":
                    vector, transcript = query_side.embed_speech_and_reading(audio)
                elif mode == "decoder":
                    # what a turn ends up searching with (Pipeline.decoder_question): the decoder's
                    # words (the padded transcription when they look misread and decoder_retry is on),
                    # or SEAL's vector and reading when the decoder gave nothing usable
                    vector, transcript, states = query_side.hear(audio)
                    if decoded := query_side.decode_question(states, len(audio) / SAMPLE_RATE, audio=audio):
                        transcript, vector = decoded, query_side.embed_text(decoded)
                else:
                    vector = query_side.embed_text(query.text)
                elapsed = (time.perf_counter() - start) * 1000
                ranked = index.search(vector[None])[0]
                results[mode].append(QueryResult(query.id, mode, ranked, query.gold, group, elapsed, transcript))
            if (n + 1) % 50 == 0:
                log(f"{n + 1}/{len(queries)} queries: " + ", ".join(
                    f"{m} top1 {metrics(results[m])['top1']:.3f}" for m in modes))
    finally:
        if owned:
            index.close()

    report = EvalReport(eval_set.folder.name, len(eval_set.passages), str(seal.device), reused_transcripts=reused)
    for mode in modes:
        record_mode(report, mode, results[mode])
        if mode in ("asr", "reading", "decoder"):
            errors = [word_errors(q.text, r.transcript) for q, r in zip(queries, results[mode]) if q.text]
            report.wer[mode] = sum(e for e, _ in errors) / max(sum(n for _, n in errors), 1)
    if "asr" in modes:
        report.examples = [
            {"query": r.query_id, "transcript": r.transcript} for r in results["asr"][:10]
        ]
    return report


def record_mode(report: EvalReport, mode: str, results: list[QueryResult]) -> None:
    """One mode's figures in the report: overall, per group, latency and each query's gold rank."""
    report.overall[mode] = metrics(results)
    report.latency[mode] = percentiles([r.embed_ms for r in results])
    report.ranks[mode] = {r.query_id: gold_rank(r) for r in results}
    for name, value in scores_by_group(results, metrics).items():
        report.by_group.setdefault(name, {})[mode] = value


def format_report(report: EvalReport) -> str:
    lines = [f"set {report.set_name}: {report.passages} passages, device {report.device}", ""]
    lines.append(f"{'':<28}{'mode':<6}{'n':>5}{'Top-1':>8}{'Top-3':>8}{'Top-10':>8}{'MRR@10':>8}")
    rows = [("overall", report.overall)] + sorted(report.by_group.items())
    for name, by_mode in rows:
        for mode, m in by_mode.items():
            lines.append(f"{name:<28}{mode:<6}{m['n']:>5}{m['top1']:>8.3f}{m['top3']:>8.3f}{m['top10']:>8.3f}{m['mrr10']:>8.3f}")
    if report.reused_transcripts:
        lines.append(f"asr: {report.reused_transcripts} transcripts (and their transcription times) reused from an earlier run")
    for mode, wer in report.wer.items():
        lines.append(f"word error rate of the {mode} transcripts vs the question text: {wer:.3f}")
    lines.append("")
    lines.append("query latency, waveform -> query embedding (ms):")
    for mode, lat in report.latency.items():
        lines.append(f"  {mode:<6} p50 {lat['p50_ms']:8.1f}   p95 {lat['p95_ms']:8.1f}")
    if "seal" in report.latency and "asr" in report.latency:
        ratio = report.latency["seal"]["p50_ms"] / report.latency["asr"]["p50_ms"]
        lines.append(f"  SEAL / ASR p50 ratio: {ratio:.3f}")
    return "\n".join(lines)
