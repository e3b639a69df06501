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
