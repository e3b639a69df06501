"""What the web app keeps of, and shows to, someone who is not signed in: chat uploads are deleted
by age, and the status panel and the chat's notices hide server addresses and paths. A real
server (create_app under uvicorn) around a pipeline of small fakes: no model loads."""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf

from rag_app.llm import LLMError
from rag_app.pipeline import Pipeline
from rag_app.settings import Settings
from tests.conftest import served
from tests.deploy.test_ops import _KB, _Seal
from ui.chat import build_chat_page, respond
from ui.status import public, status_markdown

CHROMA_URL, LLM_URL = "http://10.1.2.3:8000", "http://10.9.8.7:8001/v1"


class _ServerLLM:
    """An LLM server's client as the panel and a failing turn see it."""

    name = "smollm2"

    def health(self) -> str:
        return f"up: {LLM_URL} (smollm2)"

    def stream(self, messages, max_new_tokens=256):
        yield "It is "
        raise LLMError(f"the LLM server at {LLM_URL} stopped mid-answer (RemoteProtocolError)")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home") / "seal-home", chroma_url=CHROMA_URL, llm_base_url=LLM_URL,
                    ui_upload_max_age_s=2)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(_Seal(), _KB(), _ServerLLM(), vad=None)


@pytest.fixture(scope="module")
def app_url(pipeline, settings):
    from ui.app import create_app

    with served(create_app(pipeline, settings)) as url:
        yield url


def _upload(url: str, path: Path) -> Path:
    with open(path, "rb") as fh:
        response = httpx.post(url + "/gradio_api/upload", files={"files": (path.name, fh, "application/octet-stream")}, timeout=30)
    uploaded = Path(response.json()[0])
    assert uploaded.is_file() and uploaded.read_bytes() == path.read_bytes()
    return uploaded


def _seconds_until_gone(path: Path, limit_s: float = 15) -> float:
    started = time.perf_counter()
    while path.exists() and time.perf_counter() - started < limit_s:
        time.sleep(0.2)
    assert not path.exists(), "the upload is still in the temp folder"  # kept forever before
    return time.perf_counter() - started


@pytest.mark.faults(fault="anonymous chat uploads (a recording), and a turn asked after it was cleaned up",
                    expected="the upload is deleted from the temp folder after ui_upload_max_age_s; the late turn "
                             "says to record again (no crash)")
def test_chat_uploads_are_deleted_by_age(app_url, pipeline, tmp_path, observe):
    clip = tmp_path / "question.wav"
    sf.write(clip, (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    uploaded = _upload(app_url, clip)
    gone_after = _seconds_until_gone(uploaded)

    *_, notice, _reply, _history, _turns = list(respond(pipeline, str(uploaded), "", "seal", False, [], [], []))[-1]
    assert "no longer on the server" in notice and "record or upload it again" in notice
    observe(f"deleted {gone_after:.1f} s after upload (max age 2 s); a turn on it then said: \"{notice}\"")


@pytest.mark.faults(fault="documents uploaded on the knowledge-base page",
                    expected="the uploaded copies are deleted from the temp folder after ui_upload_max_age_s "
                             "(what was ingested stays in the store)")
def test_knowledge_page_uploads_are_deleted_by_age(app_url, tmp_path, observe):
    document = tmp_path / "notes.txt"
    document.write_text("The lighthouse on Kelpie Island is red.")
    gone_after = _seconds_until_gone(_upload(app_url + "/kb", document))
    observe(f"deleted {gone_after:.1f} s after upload (max age 2 s)")


def _handler(page, name: str):
    return next(f.fn for f in page.fns.values() if getattr(f.fn, "__name__", "") == name)


@pytest.mark.faults(fault="status panel and a failing turn's notice seen by a user who is not signed in",
                    expected="no server URL, host:port or file-system path; a signed-in user sees them")
def test_addresses_and_paths_are_hidden_from_anonymous_users(pipeline, settings, observe):
    page = build_chat_page(pipeline, settings)
    on_load, on_ask = _handler(page, "on_load"), _handler(page, "on_ask")
    anonymous, operator = SimpleNamespace(username=None), SimpleNamespace(username="ops")

    panel = on_load(anonymous)
    for secret in ("10.1.2.3", "10.9.8.7", "http", str(settings.home)):
        assert secret not in panel, panel
    assert "Chroma:** server [hidden], collection `knowledge`: 1 chunks" in panel and "LLM:** up: [hidden] (smollm2)" in panel
    assert CHROMA_URL in on_load(operator) and LLM_URL in on_load(operator)

    turns = [list(on_ask(None, "what colour is the lighthouse?", "seal", False, [], [], [], user))[-1] for user in
             (anonymous, operator)]
    assert turns[0][4] == "**Notice:** the LLM server at [hidden] stopped mid-answer (RemoteProtocolError); the answer above is cut short"
    assert LLM_URL in turns[1][4]
    observe(f"panel: \"{panel.splitlines()[3]}\"; notice: \"{turns[0][4]}\"")


def test_public_hides_urls_host_ports_and_paths():
    settings = Settings(home=Path("/srv/seal"))
    text = ("Chroma at chroma:8000 and 10.0.0.5:9000, http://gpu-box:8001/v1 (x), files in /srv/seal/chroma and "
            "/tmp/gradio/abc/q.wav, ~/notes; 3/4 of answers and/or more")
    assert public(text, settings) == ("Chroma at [hidden] and [hidden], [hidden] (x), files in [hidden] and [hidden], "
                                      "[hidden]; 3/4 of answers and/or more")
    assert "10.0.0.5" in status_markdown(Pipeline(_Seal(), _KB(), None, vad=None),
                                         Settings(chroma_url="http://10.0.0.5:8000"), reveal=True)
