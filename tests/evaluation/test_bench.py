"""The benchmark functions run and report consistent figures (small sizes; not timed tests)."""
import random

from evaluation.bench import bench_ingest, bench_search
from seal_model.data.bigbench import detokenize


def test_bench_search_reports_each_size():
    rows = bench_search(dim=16, sizes=(100, 400), queries=20, log=lambda _m: None)
    assert [r["vectors"] for r in rows] == [100, 400]
    assert all(0 < r["p50_ms"] <= r["p95_ms"] for r in rows)


def test_bench_ingest_compares_with_the_encoder(embedder):
    rng = random.Random(0)
    words = "river mountain city history science music sport film king war river".split()
    passages = [detokenize(" ".join(rng.choice(words) for _ in range(60)) + " .") for _ in range(120)]
    result = bench_ingest(embedder, passages, batch_size=32, log=lambda _m: None)
    assert result["chunks"] >= 120
    assert result["ingest_chunks_per_s"] > 0 and result["encoder_chunks_per_s"] > 0
    assert abs(result["ratio"] - result["ingest_chunks_per_s"] / result["encoder_chunks_per_s"]) < 1e-9
