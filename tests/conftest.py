"""Shared fixtures: the prepared default models (built once per cache) and real TTS audio."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from rag_app.settings import Settings, apply_offline_environment, load_settings
from seal_model.text_encoder import TextEncoder

apply_offline_environment()

pytest_plugins = ["tests.fault_table"]  # the `faults` marker's report (docs/reliability.md) and `observe`


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings as a user would resolve them, with the default models prepared (idempotent)."""
    from rag_app.model_store import prepare_models

    resolved = load_settings()
    prepare_models(resolved, log=lambda _msg: None)
    return resolved


def speak(text: str, path: Path, voice: str = "en-us", rate: int = 150) -> Path:
    """Synthesize `text` with espeak-ng (a real TTS engine from Debian) into a WAV file."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run `make setup` (installs it with apt when root)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)
    return path


def asked(messages: list[dict[str, str]]) -> str:
    """The question in a prompt built by rag_app.prompt (it ends the last message, after the passages):
    what a stand-in LLM that repeats its question gives back."""
    return messages[-1]["content"].rsplit("Question: ", 1)[-1]


class EchoLLM:
    """A stand-in LLM that answers with the question it was asked (what a test can check arrived)."""

    name = "echo"

    def stream(self, messages, max_new_tokens=256):
        yield asked(messages)

    def health(self) -> str:
        return "echo"


def load_16k(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz, resampled with faster-whisper's PyAV decoder (test-only)."""
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=16000)


TINY_PASSAGES = [
    ("p1", "The Eiffel Tower was built in Paris between 1887 and 1889. It is made of wrought iron."),
    ("p2", "Mount Everest is the highest mountain on Earth. It lies in the Himalayas."),
    ("p3", "The Amazon river flows through South America. It carries more water than any other river."),
    ("p4", "Photosynthesis turns light into chemical energy. Plants store it as sugar."),
]
TINY_QUESTIONS = [
    ("q1", "when was the eiffel tower built", "p1"),
    ("q2", "what is the highest mountain on earth", "p2"),
    ("q3", "which river carries the most water", "p3"),
    ("q4", "how do plants store energy from light", "p4"),
]


def write_tiny_corpus(folder: Path) -> Path:
    """A four-passage training corpus in `seal-rag data corpus`'s format, for tiny training runs."""
    import json

    folder.mkdir(parents=True)
    with open(folder / "passages.jsonl", "w") as fh:
        for pid, text in TINY_PASSAGES:
            fh.write(json.dumps({"id": pid, "text": text, "title": "", "source": "test", "split": "train"}) + "\n")
    with open(folder / "questions.jsonl", "w") as fh:
        for qid, text, gold in TINY_QUESTIONS:
            fh.write(json.dumps({"id": qid + "0", "text": text, "gold": [gold], "source": "test", "split": "train"}) + "\n")
    return folder


@pytest.fixture(scope="session")
def question_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "question.wav"
    return speak("What is the capital city of France, and how many people live there?", path)


@pytest.fixture(scope="session")
def question_audio(question_wav) -> np.ndarray:
    audio = load_16k(question_wav)
    assert sf.info(str(question_wav)).duration > 1.0
    return audio


class MiniLMEmbedder:
    """The text encoder alone (what the SEAL text tower is), for KB tests."""

    def __init__(self, encoder: TextEncoder, fingerprint: str = "minilm-test", delay_s: float = 0.0):
        self.encoder, self.text_fingerprint, self.dim, self.delay_s = encoder, fingerprint, encoder.dim, delay_s

    def embed_text(self, texts: list[str]) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.encoder.encode(texts)


@pytest.fixture(scope="session")
def text_encoder(settings) -> TextEncoder:
    from rag_app.model_store import resolve_model_dir

    return TextEncoder(resolve_model_dir(settings, "text_encoder"))


@pytest.fixture(scope="session")
def embedder(text_encoder) -> MiniLMEmbedder:
    return MiniLMEmbedder(text_encoder)


def wait_for_server(ready, process: subprocess.Popen, log_path: Path, what: str, timeout_s: float, poll_s: float = 0.5) -> None:
    """Poll `ready()` until it returns True; fail with the server's log if it dies or times out."""
    deadline = time.time() + timeout_s
    while True:
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"{what} did not start; log:\n{Path(log_path).read_text()[-3000:]}")
        time.sleep(poll_s)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(app) -> Iterator[str]:
    """The web app (`ui.app.create_app`) served by uvicorn in a thread on a free port: its URL,
    once /healthz answers; shut down on exit without waiting for open event streams."""
    import httpx
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run` from the pip package) on 127.0.0.1."""
    import chromadb

    from deploy.launcher import chroma_command

    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = open(tmp_path_factory.mktemp("chroma-log") / "server.log", "w")
    process = subprocess.Popen(chroma_command(chroma, tmp_path_factory.mktemp("chroma-server"), port),
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        # HttpClient connects in its constructor, so it is built inside the poll, not before it.
        client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=chromadb.Settings(anonymized_telemetry=False))
        return bool(client.heartbeat())

    wait_for_server(ready, process, log.name, "chroma run", 60, 0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)
