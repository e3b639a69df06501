from pathlib import Path

import pytest

from seal_model.card import training_seconds


def test_training_time_sums_resumed_segments():
    # The seconds column restarts when a run resumes; the card must add the segments up.
    rows = [{"seconds": s} for s in ["5", "60", "3700", "4", "300", "770"]]
    assert training_seconds(rows) == 3700 + 770


def test_training_time_of_one_segment_is_its_last_value():
    assert training_seconds([{"seconds": "1"}, {"seconds": "42"}]) == 42
    assert training_seconds([]) == 0


def test_a_chain_of_warm_starts_keeps_every_earlier_run(tmp_path):
    from seal_model.card import _earlier_training

    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "DATA_CARD.md").write_text(
        "# SEAL checkpoint: data card\n\n## Model\n- m\n\n## Training data (x)\n- parent clips\n\n## Training\n- parent steps\n\n"
        "![losses](loss.png)\n\n## Before this run: the checkpoint it started from\n\nWarm-started from `grandparent`.\n\n"
        "### Training data (x)\n- grandparent clips\n\n## Held-out evaluation: `set`\n\n| table |\n")
    text = "\n".join(_earlier_training({"init_from": str(parent)}))
    assert "### Training data (x)\n- parent clips" in text and "### Training\n- parent steps" in text
    assert "### Before this run" in text and "#### Training data (x)\n- grandparent clips" in text
    assert "Held-out" not in text and "## Model" not in text  # the parent's own eval belongs to the parent
    assert _earlier_training({"init_from": None}) == []


def _run_dir(root: Path, init_from: Path) -> Path:
    """A finished training run's files, as `seal-rag ship` reads them (tiny weights)."""
    import json

    import torch
    from safetensors.torch import save_file

    run = root / "runs" / "c-ctc"
    (run / "checkpoint").mkdir(parents=True)
    save_file({"w": torch.ones(2, 2)}, str(run / "checkpoint" / "model.safetensors"))
    (run / "checkpoint" / "config.json").write_text(json.dumps({
        "whisper_name": "whisper-base", "whisper_fingerprint": "a6e1", "text_encoder_name": "all-MiniLM-L6-v2",
        "text_encoder_fingerprint": "eea9", "conv_kernel": 5, "conv_stride": 4, "conv_channels": 512, "adapter_layers": 2,
        "length_adapter": "ctc", "ctc_vocab": ["a", "b"], "ctc_full_vocab": True, "trainable_text_layers": 2,
        "projection": "speech"}))
    (run / "loss.csv").write_text("step,seconds,dev_top1,dev_top10\n1,60,,\n400,3700,0.387,0.715\n")
    (run / "train_config.json").write_text(json.dumps({
        "run_dir": str(run), "cache_dir": str(root / "data" / "speech" / "whisper-base"), "init_from": str(init_from),
        "batch_size": 48, "lr": 0.001, "stage2_lr_scale": 0.3, "text_layer_lr_scale": 0.1, "temperature": 0.05,
        "hard_negatives": 2, "seed": 0, "threads": 2, "stage1_steps": 0, "stage2_steps": 400,
        "steps_run": {"ctc_warmup": 1000, "stage1": 0, "stage2": 400}}))
    return run


STATS = {"train_clips": 10, "train_hours": 0.1, "shards": 1, "distinct_train_questions": 5, "train_sentences": 2,
         "dev_clips": 1, "by_source": {"nq": 10}, "by_engine": {"flite": 10}, "distinct_voices": 3,
         "flite_voices": ["flite:awb"]}


@pytest.mark.faults(fault="`seal-rag ship` run twice over the checkpoint the run started from",
                    expected="the second card equals the first: the run once, its parent once; no absolute path "
                             "in the card or the shipped train_config.json")
def test_shipping_twice_does_not_repeat_the_run_nor_record_machine_paths(tmp_path, observe):
    from seal_model.card import write_card

    shipped = tmp_path / "repo" / "seal_model" / "checkpoints" / "default"
    shipped.mkdir(parents=True)
    (shipped / "DATA_CARD.md").write_text(  # the parent, as an older ship wrote it: an absolute path inside
        "# SEAL checkpoint: data card\n\n## Training data (x)\n- parent clips\n\n## Training\n- parent steps\n\n"
        f"![losses](loss.png)\n\n## Before this run: the checkpoint it started from\n\nWarm-started from "
        f"`{tmp_path}/runs/grandparent`.\n\n### Training data (x)\n- grandparent clips\n")
    run = _run_dir(tmp_path, shipped)
    first = write_card(run, shipped, STATS, None).joinpath("DATA_CARD.md").read_text()
    second = write_card(run, shipped, STATS, None).joinpath("DATA_CARD.md").read_text()
    assert second == first
    assert first.count("Wall time: 62 min") == 1 and first.count("parent steps") == 1
    assert "Warm-started from `seal_model/checkpoints/default`." in first and "Warm-started from `runs/grandparent`." in first
    config = (shipped / "train_config.json").read_text()
    for text in (first, config):
        assert str(tmp_path) not in text and "`/" not in text and '"/' not in text
    assert '"run_dir": "runs/c-ctc"' in config and '"init_from": "seal_model/checkpoints/default"' in config
    observe("two ships wrote identical cards (the run once, then parent and grandparent); paths recorded as "
            "`seal_model/checkpoints/default`, `runs/grandparent`, \"runs/c-ctc\"")


def test_a_card_that_already_repeats_a_run_is_passed_on_once():
    """The shipped card holds the c-ctc run twice (shipped twice before the fix): a run warm-started
    from it inherits that run once, and no /work/... path."""
    from seal_model.card import _earlier_training, _runs

    shipped = Path(__file__).resolve().parents[2] / "seal_model" / "checkpoints" / "default"
    card = (shipped / "DATA_CARD.md").read_text()
    history = "\n".join(_earlier_training({"init_from": str(shipped)}, {"training": ["- a new run"]}))
    own = "\n".join(_runs(card)[0]["training"])
    assert history.count(own) == 1 and "`/" not in history


def _stats(**extra):
    return {**STATS, "by_source": {"nq": 5, "vitaminc": 4}, "espeak_voices": 2,
            "never_trained_voices_in_training": [], **extra}


def test_the_card_describes_sources_and_held_out_voices_from_what_the_run_read(tmp_path):
    from seal_model.card import write_card
    from seal_model.voices import NEVER_TRAINED

    card = (write_card(_run_dir(tmp_path / "a", tmp_path / "none"), tmp_path / "out", _stats(), None)
            / "DATA_CARD.md").read_text()
    assert "Natural Questions" in card and "VitaminC evidence sentences 4" in card and "Disfl-QA" not in card
    assert all(voice in card for voice in NEVER_TRAINED) and "none of them is in the training clips" in card
    leaked = write_card(_run_dir(tmp_path / "b", tmp_path / "none"), tmp_path / "out2",
                        _stats(never_trained_voices_in_training=["piper:joe"]), None)
    assert "WARNING, found in the training clips: piper:joe" in (leaked / "DATA_CARD.md").read_text()
