"""The report's building blocks: seeded perturbations, the robustness loop on a real tiny set
(real SEAL model, real TTS audio), and the README block it regenerates."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from evaluation.perturb import CONDITIONS, add_noise, change_speed
from evaluation.report import README_END, README_START, ReportPlan, retrieval_and_robustness, update_readme
from seal_model.voices import synthesize


def test_noise_hits_the_requested_snr_and_is_seeded():
    clean = synthesize("flite:slt", "the lighthouse is violet")
    noisy = add_noise(clean, 10, key="q1")
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))
    assert abs(snr - 10) < 0.3
    assert np.array_equal(noisy, add_noise(clean, 10, key="q1"))
    assert not np.array_equal(noisy, add_noise(clean, 10, key="q2"))


def test_speed_change_scales_the_length():
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert abs(len(change_speed(audio, 1.1)) - 16000 / 1.1) < 2
    assert abs(len(change_speed(audio, 0.9)) - 16000 / 0.9) < 2


def test_robustness_runs_every_condition_on_one_index(tmp_path, settings):
    from rag_app.asr import WhisperTranscriber
    from rag_app.model_store import load_seal_model, resolve_model_dir

    passages = {"p1": "The Zorblax lighthouse on Kelpie Island is painted violet.",
                "p2": "The ferry leaves the harbour at noon every day."}
    questions = {"p1": "what colour is the lighthouse on kelpie island", "p2": "when does the ferry leave"}
    (tmp_path / "audio").mkdir()
    with open(tmp_path / "passages.jsonl", "w") as fh:
        for pid, text in passages.items():
            fh.write(json.dumps({"id": pid, "text": text}) + "\n")
    with open(tmp_path / "queries.jsonl", "w") as fh:
        for pid, text in questions.items():
            sf.write(tmp_path / "audio" / f"{pid}.flac", synthesize("flite:slt", text), 16000)
            fh.write(json.dumps({"id": pid, "audio": f"audio/{pid}.flac", "text": text, "gold": [pid], "voice": "flite:slt"}) + "\n")
    seal = load_seal_model(settings)
    transcriber = WhisperTranscriber(resolve_model_dir(settings, "whisper"))
    result = retrieval_and_robustness(tmp_path, seal, transcriber, ReportPlan(retrieval_queries=2, robustness_queries=2),
                                      log=lambda _m: None)
    assert result["passages"] == 2
    assert set(result["clean"]["overall"]) == {"seal", "asr", "text"}
    assert result["clean"]["overall"]["text"]["top1"] == 1.0  # the oracle on a two-passage KB
    assert result["clean"]["ranks"]["text"] == {"p1": 1, "p2": 1}  # per query, for `seal-rag compare`
    assert set(result["robustness"]) == {"clean", *CONDITIONS}
    assert all(set(by_mode) == {"seal", "asr"} and by_mode["seal"]["n"] == 2 for by_mode in result["robustness"].values())


def test_readme_block_is_replaced_and_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold figures\n{README_END}\nrest\n")
    update_readme(readme, "new table", ["docs/results/retrieval.png"])
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{README_END}\nrest\n")
    assert "new table" in text and "old figures" not in text and "![retrieval](docs/results/retrieval.png)" in text
