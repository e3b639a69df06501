"""Access rules and escaping, without a browser."""
from __future__ import annotations

import pytest

from knowledge_base.store import Passage
from rag_app.pipeline import Trace
from rag_app.settings import Settings
from ui.app import credentials
from ui.chat import audio_notice
from ui.render import latency_chart_html, passages_html


def test_listening_beyond_localhost_needs_credentials():
    with pytest.raises(ValueError, match="SEAL_RAG_UI_USER"):
        credentials(Settings(ui_host="0.0.0.0"))
    assert credentials(Settings(ui_host="0.0.0.0", ui_user="a", ui_password="b")) == ("a", "b")
    assert credentials(Settings()) is None  # localhost, nothing configured: open


def test_half_configured_credentials_are_refused():
    with pytest.raises(ValueError, match="both"):
        credentials(Settings(ui_user="a"))
    with pytest.raises(ValueError, match="ui_protect_chat"):
        credentials(Settings(ui_protect_chat=True))


def test_passages_render_as_text():
    html = passages_html([Passage("p", "<script>alert(1)</script> & <b>x</b>", 0.5, {"source_name": "<i>doc</i>"})])
    assert "<script>" not in html and "<b>x</b>" not in html and "<i>doc</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in html


def test_latency_chart_has_a_segment_per_stage():
    trace = Trace("seal", stages_ms={"decode": 5.0, "vad": 20.0, "speech_embedding": 100.0, "search": 5.0}, total_ms=130.0)
    html = latency_chart_html([trace])
    assert html.count("class='seg'") == 4 and "speech_embedding 100 ms" in html and "total 130 ms" in html


def test_audio_notice_confirms_a_real_recording_and_names_a_bad_one(question_wav, tmp_path):
    import soundfile as sf

    seconds = sf.info(str(question_wav)).duration
    assert audio_notice(str(question_wav)) == f"Question audio received ({seconds:.1f} s): press **Ask**."
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file" * 10)
    assert "audio file is empty" in audio_notice(str(tmp_path / "empty.wav"))
    assert "could not decode" in audio_notice(str(tmp_path / "junk.wav"))
    assert audio_notice(None) == ""  # cleared: nothing to say
