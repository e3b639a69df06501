from seal_model.card import training_seconds


def test_training_time_sums_resumed_segments():
    # The seconds column restarts when a run resumes; the card must add the segments up.
    rows = [{"seconds": s} for s in ["5", "60", "3700", "4", "300", "770"]]
    assert training_seconds(rows) == 3700 + 770


def test_training_time_of_one_segment_is_its_last_value():
    assert training_seconds([{"seconds": "1"}, {"seconds": "42"}]) == 42
    assert training_seconds([]) == 0
