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


def _run_dir(tmp_path, name="run"):
    import json

    import torch
    from safetensors.torch import save_file

    run = tmp_path / name
    (run / "checkpoint").mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, run / "checkpoint" / "model.safetensors")
    (run / "checkpoint" / "config.json").write_text(json.dumps({
        "whisper_name": "whisper-base", "whisper_fingerprint": "w1", "text_encoder_name": "minilm",
        "text_encoder_fingerprint": "t1", "conv_kernel": 5, "conv_stride": 4, "conv_channels": 8,
        "length_adapter": "ctc", "ctc_vocab": [1, 2], "trainable_text_layers": 0, "projection": "speech"}))
    (run / "train_config.json").write_text(json.dumps({
        "batch_size": 4, "lr": 0.001, "stage2_lr_scale": 0.3, "temperature": 0.05, "hard_negatives": 2, "seed": 0,
        "threads": 2, "stage1_steps": 0, "stage2_steps": 3, "init_from": None}))
    (run / "loss.csv").write_text("step,seconds,dev_top1,dev_top10\n1,5,,\n3,9,0.5,0.9\n")
    return run


def _stats(**extra):
    return {"shards": 2, "clips": 10, "train_clips": 9, "dev_clips": 1, "train_hours": 0.1,
            "distinct_train_questions": 3, "train_sentences": 4, "by_source": {"nq": 5, "vitaminc": 4},
            "by_engine": {"espeak": 5, "flite": 4}, "distinct_voices": 3, "flite_voices": ["flite:awb"],
            "festival_voices": [], "espeak_voices": 2, "never_trained_voices_in_training": [], **extra}


def test_the_card_describes_sources_and_held_out_voices_from_what_the_run_read(tmp_path):
    from seal_model.card import write_card
    from seal_model.voices import NEVER_TRAINED

    card = (write_card(_run_dir(tmp_path), tmp_path / "out", _stats(), None) / "DATA_CARD.md").read_text()
    assert "Natural Questions" in card and "VitaminC evidence sentences 4" in card and "Disfl-QA" not in card
    assert all(voice in card for voice in NEVER_TRAINED) and "none of them is in the training clips" in card
    leaked = write_card(_run_dir(tmp_path, "run2"), tmp_path / "out2", _stats(never_trained_voices_in_training=["piper:joe"]), None)
    assert "WARNING, found in the training clips: piper:joe" in (leaked / "DATA_CARD.md").read_text()
