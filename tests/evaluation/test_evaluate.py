"""Evaluation sets and metrics: malformed sets are named by line; metrics count what they say."""
from __future__ import annotations

import json

import pytest

from evaluation.evaluate import QueryResult, metrics, word_errors
from seal_model.data.eval_set import EvalSetError, load_eval_set
from tests.cli_run import run_cli


def _set(folder, passages, queries, audio=("a.wav",)):
    folder.mkdir(exist_ok=True)
    (folder / "passages.jsonl").write_text("".join(p if isinstance(p, str) else json.dumps(p) + "\n" for p in passages))
    (folder / "queries.jsonl").write_text("".join(q if isinstance(q, str) else json.dumps(q) + "\n" for q in queries))
    for name in audio:
        (folder / name).write_bytes(b"RIFF")
    return folder


GOOD_P = [{"id": "p1", "text": "Paris is in France."}, {"id": "p2", "text": "Everest is high."}]
GOOD_Q = [{"id": "q1", "audio": "a.wav", "gold": ["p1"], "voice": "v"}]


def test_a_good_set_loads(tmp_path):
    loaded = load_eval_set(_set(tmp_path / "s", GOOD_P, GOOD_Q))
    assert len(loaded.passages) == 2 and loaded.queries[0].gold == ["p1"] and loaded.queries[0].voice == "v"


@pytest.mark.parametrize(
    "passages, queries, message",
    [
        (GOOD_P + ["{not json\n"], GOOD_Q, r"passages.jsonl:3: not valid JSON"),
        (GOOD_P + [{"id": "p1", "text": "dup"}], GOOD_Q, r"passages.jsonl:3: duplicate id"),
        (GOOD_P, GOOD_Q + [{"id": "q2", "audio": "a.wav", "gold": ["p9"]}], r"queries.jsonl:2: 'gold'"),
        (GOOD_P, [{"id": "q1", "audio": "missing.wav", "gold": ["p1"]}], r"queries.jsonl:1: audio file missing.wav"),
        (GOOD_P, [{"id": "q1", "gold": ["p1"]}], r"queries.jsonl:1: needs string 'id' and 'audio'"),
    ],
)
def test_malformed_sets_name_the_line(tmp_path, passages, queries, message):
    with pytest.raises(EvalSetError, match=message):
        load_eval_set(_set(tmp_path / "s", passages, queries))


def test_eval_command_exits_non_zero_on_a_malformed_set(tmp_path):
    folder = _set(tmp_path / "s", GOOD_P + ["[1, 2]\n"], GOOD_Q)
    result = run_cli("eval", "--set", str(folder), timeout=120)
    assert result.returncode == 2 and "passages.jsonl:3" in result.err


def test_metrics_count_ranks():
    def result(ranked, gold):
        return QueryResult("q", "seal", ranked, gold, {}, 1.0)

    found = metrics([result(["a", "b"], ["a"]), result(["x", "a", "b"], ["b"]), result(["x"] * 10, ["a"]),
                     result(["x"] * 10 + ["a"], ["a"])])
    assert found["n"] == 4
    assert found["top1"] == 0.25 and found["top3"] == 0.5 and found["top10"] == 0.5
    assert found["mrr10"] == pytest.approx((1 + 1 / 3) / 4)


def test_paired_comparison_counts_discordant_queries():
    from evaluation.compare import paired_comparison

    ids = [f"q{n}" for n in range(40)]
    a = {q: 1 for q in ids[:20]} | {q: 0 for q in ids[20:]}
    # B keeps A's 20 hits, adds 10 more (rank 1) and moves 5 misses to rank 2.
    b = dict(a) | {q: 1 for q in ids[20:30]} | {q: 2 for q in ids[30:35]}
    result = paired_comparison(a, b, samples=500)
    assert result["n"] == 40 and result["only_a"] == 0 and result["only_b"] == 10
    assert result["top1_diff"] == pytest.approx(10 / 40)
    assert result["mcnemar_p"] == pytest.approx(2 * 0.5**10)
    assert result["mrr10_diff"] == pytest.approx((10 + 5 * 0.5) / 40)
    lo, hi = result["top1_diff_95ci"]
    assert 0 < lo <= result["top1_diff"] <= hi
    # identical reports: nothing discordant, p = 1
    same = paired_comparison(a, a, samples=100)
    assert same["mcnemar_p"] == 1.0 and same["top1_diff_95ci"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="share no query ids"):
        paired_comparison(a, {"other": 1})


def test_compare_command_rejects_reports_without_ranks(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"overall": {"seal": {"top1": 0.3}}}))
    result = run_cli("compare", str(old), str(old), timeout=120)
    assert result.returncode == 2 and "no per-query ranks" in result.err


def test_compare_command_pairs_different_modes_of_two_reports(tmp_path):
    """--mode-b: a change of what a turn searches with (A's seal vs B's decoder) is paired per query."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"ranks": {"seal": {"q1": 1, "q2": 0, "q3": 3}}}))
    b.write_text(json.dumps({"ranks": {"seal": {"q1": 0, "q2": 0, "q3": 0}, "decoder": {"q1": 1, "q2": 1, "q3": 1}}}))
    result = run_cli("compare", str(a), str(b), "--mode", "seal", "--mode-b", "decoder", timeout=120)
    assert result.returncode == 0, result.err
    assert f"B = {b} [decoder]" in result.out
    assert "Top-1 A 0.333 B 1.000 B-A +0.667" in result.out  # run_cli folds runs of spaces
    assert "right only in A: 0, only in B: 2" in result.out


def test_word_errors_count_edits_in_words():
    assert word_errors("Who owns the Encore hotel?", "who owns the encore hotel") == (0, 5)
    assert word_errors("who owns the encore hotel", "owns the on in hotel") == (3, 5)  # who deleted, encore -> on, in inserted
    assert word_errors("a b", "") == (2, 2) and word_errors("", "x") == (1, 0)


def test_reading_and_decoder_modes_retrieve_with_their_text_and_report_word_error_rates(tmp_path, settings):
    import soundfile as sf

    from rag_app.asr import WhisperTranscriber
    from evaluation.evaluate import evaluate
    from rag_app.model_store import load_seal_model, resolve_model_dir
    from seal_model.voices import synthesize

    passages = {"p1": "The ferry leaves the harbour at noon every day.", "p2": "Mount Everest is the highest mountain."}
    questions = {"p1": "when does the ferry leave the harbour", "p2": "what is the highest mountain"}
    (tmp_path / "audio").mkdir()
    (tmp_path / "passages.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in passages.items()))
    lines = []
    for pid, text in questions.items():
        sf.write(tmp_path / "audio" / f"{pid}.flac", synthesize("flite:slt", text), 16000)
        lines.append(json.dumps({"id": pid, "audio": f"audio/{pid}.flac", "text": text, "gold": [pid]}) + "\n")
    (tmp_path / "queries.jsonl").write_text("".join(lines))
    seal, eval_set = load_seal_model(settings), load_eval_set(tmp_path)
    reading = evaluate(eval_set, seal, None, ("reading",), log=lambda _m: None)  # needs audio, not a transcriber
    assert set(reading.overall) == {"reading"} and reading.overall["reading"]["n"] == 2
    assert set(reading.wer) == {"reading"} and 0.0 <= reading.wer["reading"] <= 1.5
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    asr = evaluate(eval_set, seal, transcriber, ("asr",), log=lambda _m: None)
    assert asr.wer["asr"] < 0.5
    # the decoder mode: Whisper's decoder on SEAL's own encoder states, scored like a transcript
    decoder = evaluate(eval_set, seal, transcriber, ("decoder",), log=lambda _m: None)
    assert decoder.wer["decoder"] < 0.5 and decoder.overall["decoder"]["top1"] == 1.0


def test_compare_command_pairs_the_answers_of_two_answer_reports(tmp_path):
    """Two `eval --answers` reports: each query's answer right or wrong, paired; no MRR (no ranks)."""
    def answers(correct: dict[str, bool], mode: str = "seal") -> dict:
        return {"overall": {}, "results": [{"query_id": q, "mode": mode, "correct": c} for q, c in correct.items()]}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(answers({"q1": True, "q2": False, "q3": False, "q4": False})))
    b.write_text(json.dumps(answers({"q1": True, "q2": True, "q3": True, "q4": False})))
    result = run_cli("compare", str(a), str(b), "--mode", "seal", timeout=120)
    assert result.returncode == 0, result.err
    assert "Answers A 0.250 B 0.750 B-A +0.500" in result.out
    assert "right only in A: 0, only in B: 2" in result.out and "MRR" not in result.out
    missing = run_cli("compare", str(a), str(b), "--mode", "asr", timeout=120)
    assert missing.returncode == 2 and "no per-query ranks for mode 'asr'" in missing.err


def test_the_evaluation_index_searches_exactly():
    """Exact cosine search: the nearest passages in order, every time (an approximate index
    differs from build to build, and an evaluation must measure the models)."""
    import numpy as np

    from evaluation.evaluate import TempIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = TempIndex([f"p{i}" for i in range(500)], vectors)
    queries = vectors[[3, 7]] + 0.01
    expected = [[f"p{j}" for j in np.argsort(-(vectors @ q))[:5]] for q in queries]
    assert index.search(queries, 5) == expected
    assert index.search(queries[0], 5)[0][0] == "p3"
    assert len(index.search(queries, 900)[0]) == 500  # k above the size: every passage, in order
