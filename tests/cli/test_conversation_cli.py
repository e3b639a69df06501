"""`seal-rag ask --mic --conversation` without a microphone: one clear line, exit status 2, and
no model loaded first (sounddevice is made to report what a machine without audio input does)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.cli_run import flat


@pytest.fixture
def no_input_devices(monkeypatch):
    import sounddevice

    # only an output device, as on a server with HDMI audio and no microphone
    devices = [{"name": "HDMI", "max_input_channels": 0, "max_output_channels": 2}]
    monkeypatch.setattr(sounddevice, "query_devices", lambda *args, **kwargs: devices)

    def no_input(*args, **kwargs):
        raise sounddevice.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sounddevice, "check_input_settings", no_input)


def _ask(*args: str):
    from cli.main import app

    return CliRunner().invoke(app, ["ask", *args])


def test_conversation_without_a_microphone_says_so(no_input_devices, monkeypatch):
    import rag_app.wiring

    def must_not_load(*args, **kwargs):
        raise AssertionError("the models were loaded before the microphone was checked")

    monkeypatch.setattr(rag_app.wiring, "build_pipeline", must_not_load)
    result = _ask("--mic", "--conversation")
    assert result.exit_code == 2
    assert "no microphone: sounddevice lists no input device" in flat(result.output)


def test_conversation_needs_the_microphone_flag():
    result = _ask("--conversation", "--text", "hello")
    assert result.exit_code == 2
    assert "--conversation goes with --mic alone" in flat(result.output)
