"""Sixteen users at once through the chat page's HTTP API, each uploading a recording (two of them
a file that is not audio): every turn completes with its own question, the bad ones with a
message, and the app keeps serving. The pipeline's models are small fakes, so this runs in seconds
(tests/ui/test_concurrency.py does eight turns with the real models)."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from rag_app.pipeline import Pipeline
from rag_app.settings import Settings
from tests.conftest import served
from tests.deploy.test_ops import _KB
from tests.ui.test_concurrency import _text

USERS = 16


class _Seal:
    """Hears a clip as its length, so each turn's question names its own recording."""

    device, config = "cpu", None

    def embed_and_read_speech(self, waves):
        return np.ones((len(waves), 4), np.float32) / 2, [f"clip of {len(w) / 16000:.2f} seconds" for w in waves]

    def embed_text(self, texts):
        return np.ones((len(texts), 4), np.float32) / 2


class _EchoLLM:
    name = "echo"

    def health(self) -> str:
        return "embedded echo"

    def stream(self, messages, max_new_tokens=256):
        time.sleep(0.2)  # long enough for turns to overlap
        yield "You asked about the "
        yield messages[-1]["content"].rsplit("clip of", 1)[-1].split("seconds")[0].strip() + " s clip."


@pytest.fixture(scope="module")
def app_url():
    from ui.app import create_app

    with served(create_app(Pipeline(_Seal(), _KB(), _EchoLLM(), vad=None), Settings(ui_concurrency=4))) as url:
        yield url


@pytest.mark.faults(fault="16 concurrent chat turns with uploads (2 of them not audio), 4 computed at once",
                    expected="every turn completes with its own question and answer, the 2 bad ones with a message; "
                             "none lost or mixed up; the app keeps serving")
def test_sixteen_concurrent_turns_with_uploads(app_url, tmp_path, observe):
    from gradio_client import Client, handle_file

    files = []
    for n in range(USERS):
        if n in (5, 11):
            path = tmp_path / f"notes{n}.txt"
            path.write_text("this is not a recording\n" * 20)
        else:
            path = tmp_path / f"q{n}.wav"
            sf.write(path, (0.3 * np.sin(np.arange(16000 + 800 * n) / 5)).astype(np.float32), 16000)
        files.append(path)

    def ask(path):
        client = Client(app_url + "/", verbose=False)
        return client.predict(handle_file(str(path)), "", "seal", False, api_name="/on_ask")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        results = list(pool.map(ask, files, timeout=300))
    elapsed = time.perf_counter() - started
    for n, (path, result) in enumerate(zip(files, results)):
        chat, notice = result[0], result[4]
        if path.suffix == ".txt":
            assert "Could not use this question" in notice and "could not decode" in notice, notice
            continue
        seconds = f"{(16000 + 800 * n) / 16000:.2f}"
        assert _text(chat[0]) == f"(spoken) clip of {seconds} seconds", chat  # its own recording, no mix-up
        assert _text(chat[-1]).startswith(f"You asked about the {seconds} s clip."), chat
    assert httpx.get(app_url + "/healthz", timeout=10).status_code == 200  # still serving
    observe(f"{USERS} turns in {elapsed:.1f} s: 14 answered about their own clip, 2 said "
            f"\"{results[5][4][:80]}...\"; /healthz 200 after")
