"""Knowledge-base fixtures: a real MiniLM embedder and a real `chroma run` server."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag_app.model_store import resolve_model_dir
from seal_model.text_encoder import TextEncoder


class MiniLMEmbedder:
    """The text encoder alone (the SEAL text tower minus its shared layer), for KB tests."""

    def __init__(self, encoder: TextEncoder, fingerprint: str = "minilm-test", delay_s: float = 0.0):
        self.encoder, self.text_fingerprint, self.dim, self.delay_s = encoder, fingerprint, encoder.dim, delay_s

    def embed_text(self, texts: list[str]) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.encoder.encode(texts)


@pytest.fixture(scope="session")
def text_encoder(settings) -> TextEncoder:
    return TextEncoder(resolve_model_dir(settings, "text_encoder"))


@pytest.fixture(scope="session")
def embedder(text_encoder) -> MiniLMEmbedder:
    return MiniLMEmbedder(text_encoder)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run` from the pip package) on 127.0.0.1."""
    import chromadb

    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = open(tmp_path_factory.mktemp("chroma-log") / "server.log", "w")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port, settings=chromadb.Settings(anonymized_telemetry=False)).heartbeat()
            break
        except Exception:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"chroma run did not start (see {log.name})")
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)
