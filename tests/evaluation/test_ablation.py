"""The ablation runner on a tiny real training set: every variant trains on one budget, is
timed on real speech, and lands in the table and plot the report carries."""
from __future__ import annotations

import csv

from evaluation.ablation import VARIANTS, Budget, markdown, run_ablations, save
from rag_app.model_store import resolve_model_dir
from rag_app.settings import replace
from seal_model.data.speech_cache import build_speech_cache
from seal_model.voices import synthesize
from seal_model.speech_encoder import WhisperSpeechEncoder
from seal_model.train import TrainConfig
from tests.conftest import write_tiny_corpus


def test_variants_share_a_budget_and_differ_in_one_choice(settings, tmp_path):
    whisper_dir = resolve_model_dir(replace(settings, whisper="tiny.en"), "whisper")
    corpus = write_tiny_corpus(tmp_path / "corpus")
    cache = tmp_path / "speech" / "tiny"
    build_speech_cache(corpus, cache, WhisperSpeechEncoder(whisper_dir), log=lambda _m: None)
    base = TrainConfig(run_dir="", cache_dir=str(cache), corpus_dir=str(corpus), whisper_dir=str(whisper_dir),
                       text_dir=str(resolve_model_dir(settings, "text_encoder")), warmup_steps=2, dev_kb_size=4,
                       hard_negatives=1)
    budget = Budget(stage1_steps=3, stage2_steps=2, stage0_steps=2, batch_size=8, max_shards=1, latency_clips=2)
    clips = [synthesize("flite:slt", "when was the eiffel tower built"), synthesize("flite:slt", "how tall is everest")]
    chosen = tuple(v for v in VARIANTS if v.name in ("stride2", "stride8", "no-stage1", "pool-cls", "ctc-stride4"))

    result = run_ablations(base, tmp_path / "runs", budget, clips, chosen, log=lambda _m: None)

    rows = {r["name"]: r for r in result["rows"]}
    assert list(rows) == ["stride2", "stride8", "no-stage1", "pool-cls", "ctc-stride4"]
    expected = {"no-stage1": ["2"] * 5, "ctc-stride4": ["0"] * 2 + ["1"] * 3 + ["2"] * 2}
    for name, row in rows.items():
        stages = [r["stage"] for r in csv.DictReader(open(tmp_path / "runs" / name / "loss.csv"))]
        # the same stage-1 + stage-2 budget for every variant; CTC adds only its warm-up
        assert stages == expected.get(name, ["1"] * 3 + ["2"] * 2) and row["steps"] == len(stages)
        assert 0.0 <= row["dev_top1"] <= row["dev_top10"] <= 1.0 and row["dev_median_rank"] >= 1 and row["p50_ms"] > 0
    # a larger stride hands the text layers fewer tokens for the same clips
    assert rows["stride2"]["text_layer_tokens_mean"] > 3 * rows["stride8"]["text_layer_tokens_mean"] - 6
    assert rows["ctc-stride4"]["length_adapter"] == "ctc" and rows["ctc-stride4"]["text_layer_tokens_mean"] >= 2

    # rerunning finds every run finished: nothing retrains, the table is the same
    again = run_ablations(base, tmp_path / "runs", budget, clips, chosen[:1], log=lambda _m: None)
    assert again["rows"][0]["train_s"] == rows["stride2"]["train_s"]

    save(result, tmp_path / "out")
    assert (tmp_path / "out" / "ablation.png").stat().st_size > 10_000
    table = markdown(result)
    assert all(f"| {name} |" in table for name in rows)


def test_pooling_choices_give_unit_vectors_that_differ(settings):
    import numpy as np

    from rag_app.model_store import load_seal_model

    model = load_seal_model(settings)
    clip = [synthesize("flite:slt", "what colour is the lighthouse")]
    vectors = {}
    for pooling in ("mean", "max", "cls"):
        model.config.speech_pooling = pooling
        vectors[pooling] = model.embed_speech(clip)[0]
    model.config.speech_pooling = "mean"
    assert all(abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors.values())
    assert not np.allclose(vectors["mean"], vectors["max"]) and not np.allclose(vectors["mean"], vectors["cls"])
