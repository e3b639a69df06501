"""Settings resolve through defaults <- config file <- environment <- flags, in that order."""
from pathlib import Path

import pytest

from rag_app.settings import load_settings


def test_defaults_without_environment():
    settings = load_settings(environ={})
    assert settings.device == "auto" and settings.whisper == "base"
    assert settings.home == Path("~/.cache/seal-rag").expanduser()
    assert settings.chroma_dir == settings.home / "chroma"


def test_layers_override_in_order(tmp_path):
    config = tmp_path / "seal.toml"
    config.write_text('whisper = "tiny.en"\nllm_timeout_s = 5\ndevice = "cpu"\nhome = "/srv/seal"\n')
    env = {"SEAL_RAG_CONFIG": str(config), "SEAL_RAG_DEVICE": "cuda", "SEAL_RAG_LLM_TIMEOUT_S": "7.5"}
    settings = load_settings(environ=env, overrides={"device": "cpu", "whisper": None})
    assert settings.whisper == "tiny.en"  # from the file; a None flag does not override
    assert settings.llm_timeout_s == 7.5  # environment beats the file, and is typed
    assert settings.device == "cpu"  # the flag beats the environment
    assert settings.home == Path("/srv/seal")


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SEAL_RAG_LLM_TIMEOUT_S": "soon"}, "llm_timeout_s"),
        ({"SEAL_RAG_DEVICE": "tpu"}, "device"),
        ({"SEAL_RAG_CONFIG": "/nonexistent.toml"}, "does not exist"),
        ({"SEAL_RAG_CONV_PAUSE_S": "25", "SEAL_RAG_CONV_MAX_TURN_S": "20"}, "conv_pause_s"),
        ({"SEAL_RAG_CONV_MAX_TURN_S": "45"}, "conv_max_turn_s"),
        ({"SEAL_RAG_CONV_BARGE_IN_S": "0"}, "conv_barge_in_s"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        load_settings(environ=env)


def test_unknown_keys_in_config_file_are_refused(tmp_path):
    config = tmp_path / "seal.toml"
    config.write_text('wisper = "base"\n')
    with pytest.raises(ValueError, match="wisper"):
        load_settings(config_file=config, environ={})


def test_secrets_are_masked():
    rows = dict((name, value) for name, value, _ in load_settings(environ={"SEAL_RAG_LLM_API_KEY": "sk-1"}).describe())
    assert rows["llm_api_key"] == "***"


def test_question_text_is_one_of_the_known_options():
    assert load_settings(environ={}).question_text == "decoder"
    assert load_settings(environ={"SEAL_RAG_QUESTION_TEXT": "reading"}).question_text == "reading"
    with pytest.raises(ValueError, match="question_text"):
        load_settings(environ={"SEAL_RAG_QUESTION_TEXT": "asr"})
    assert load_settings(environ={}).seal_search == "decoder"
    assert load_settings(environ={"SEAL_RAG_SEAL_SEARCH": "speech"}).seal_search == "speech"
    with pytest.raises(ValueError, match="seal_search"):
        load_settings(environ={"SEAL_RAG_SEAL_SEARCH": "asr"})


@pytest.mark.faults(fault="secrets in settings printed (repr, str, a log line, a traceback's locals)",
                    expected="the API key and the UI password never appear; other values do")
def test_secrets_are_hidden_from_repr_and_logs(caplog, observe):
    import logging

    settings = load_settings(environ={"SEAL_RAG_LLM_API_KEY": "sk-live-123", "SEAL_RAG_UI_USER": "ops",
                                      "SEAL_RAG_UI_PASSWORD": "hunter2"})
    logging.getLogger("seal-rag-test").warning("settings: %s / %r", settings, settings)
    for shown in (repr(settings), str(settings), f"{settings}", caplog.text):
        assert "sk-live-123" not in shown and "hunter2" not in shown
        assert "llm_api_key='***'" in shown and "ui_user='ops'" in shown
    assert settings.llm_api_key == "sk-live-123"  # the value itself is intact for the code that uses it
    observe("repr and log lines show llm_api_key='***', ui_password='***'")


def test_conversation_options_come_from_the_settings():
    from rag_app.voice_session import turn_options

    settings = load_settings(environ={"SEAL_RAG_CONV_PAUSE_S": "1.2", "SEAL_RAG_CONV_ECHO_GAIN": "0.05"})
    options = turn_options(settings)
    assert (options.pause_s, options.echo_gain, options.max_turn_s) == (1.2, 0.05, settings.conv_max_turn_s)
