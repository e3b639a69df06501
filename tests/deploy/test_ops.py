"""/metrics, /healthz and the load-test client against the real web app (create_app, uvicorn,
Gradio's HTTP API) around a real Pipeline whose models, store and LLM are small fakes: no model
loads, so this runs in seconds."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import soundfile as sf

from deploy.loadtest import run_load
from knowledge_base.store import Passage
from rag_app.llm import LLMError, OpenAICompatibleLLM
from rag_app.metrics import TurnMetrics, instrument
from rag_app.pipeline import Pipeline, TurnEvent
from rag_app.settings import Settings
from tests.conftest import _free_port


class _Seal:
    device = "cpu"
    config = None

    def embed_and_read_speech(self, waves):
        return np.ones((len(waves), 4), np.float32) / 2, ["what colour is the lighthouse"] * len(waves)

    def embed_text(self, texts):
        return np.ones((len(texts), 4), np.float32) / 2


class _Collection:
    def count(self):
        return 1


class _Client:
    def heartbeat(self):
        return 1


class _KB:
    name, client, collection = "knowledge", _Client(), _Collection()

    def search(self, vector, k):
        return [Passage("p1", "The lighthouse is painted green.", 0.9, {"source_name": "notes.txt"})]


class _LLM:
    name = "fake"

    def __init__(self):
        self.fail = False

    def health(self):
        return "embedded fake"

    def stream(self, messages, max_new_tokens=256):
        yield "It is "
        if self.fail:
            raise LLMError("the LLM server at http://router/v1 stopped mid-answer (RemoteProtocolError)")
        yield "green."


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    import uvicorn

    from ui.app import create_app

    pipeline = Pipeline(_Seal(), _KB(), _LLM(), vad=None)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, Settings()), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while _get_or_none(url + "/healthz") is None and time.time() < deadline:
        time.sleep(0.2)
    clip = tmp_path_factory.mktemp("clip") / "question.wav"
    sf.write(clip, (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    yield url, pipeline, clip
    server.should_exit = True
    thread.join(timeout=10)


def _get_or_none(url):
    try:
        return _get(url)
    except OSError:
        return None


def _sample(metrics_text: str, name: str, **labels) -> float:
    """One sample of a Prometheus text page, by name and labels (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_turns_through_the_http_api_are_counted_timed_and_parsed(app):
    url, pipeline, clip = app
    status, body = _get(url + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"

    result = asyncio.run(run_load([url], [clip], concurrency=2, duration_s=60, max_turns=4, log=lambda _m: None))
    summary = result.summary()
    assert summary["turns"] == 4 and summary["ok"] == 4 and summary["failed"] == 0, [t.detail for t in result.turns]
    assert {"decode", "speech_embedding", "search", "first_token", "generation", "total", "client"} <= set(summary["stages"])
    assert summary["stages"]["client"]["p50_ms"] >= summary["stages"]["total"]["p50_ms"] - 1  # the wait includes the turn

    status, text = _get(url + "/metrics")
    assert status == 200
    assert _sample(text, "seal_rag_turns_total", mode="seal", outcome="ok") == 4
    assert _sample(text, "seal_rag_stage_seconds_count", mode="seal", stage="speech_embedding") == 4
    assert _sample(text, "seal_rag_turns_in_progress") == 0
    assert 'seal_rag_queue_depth{page="chat"}' in text and 'seal_rag_queue_depth{page="kb"}' in text


def test_an_llm_failure_is_a_degraded_turn_and_an_unhealthy_replica(app):
    url, pipeline, clip = app
    llm = pipeline.llm
    llm.fail = True
    try:
        result = asyncio.run(run_load([url], [clip], concurrency=1, duration_s=60, max_turns=1, log=lambda _m: None))
    finally:
        llm.fail = False
    turn = result.turns[0]
    assert turn.outcome == "degraded" and "stopped mid-answer" in turn.detail
    _status, text = _get(url + "/metrics")
    assert _sample(text, "seal_rag_turn_errors_total", mode="seal", cause="llm") == 1

    pipeline.llm = OpenAICompatibleLLM(f"http://127.0.0.1:{_free_port()}/v1", "smollm2", timeout_s=2)  # nobody listens
    try:
        status, body = _get(url + "/healthz")
    finally:
        pipeline.llm = llm
    report = json.loads(body)
    assert status == 503 and report["status"] == "fail"
    assert report["checks"]["llm"]["ok"] is False and "Connection" in report["checks"]["llm"]["detail"]
    assert report["checks"]["models"]["ok"] and report["checks"]["chroma"]["ok"]


def test_outcomes_of_turns_that_raise():
    class _Raising:
        def __init__(self, exc):
            self.exc = exc

        def answer(self, audio=None, text=None, mode="seal", history=None, generate=True):
            yield TurnEvent("heard", "x")
            raise self.exc

    metrics = TurnMetrics()
    for exc in (ValueError("the recording is silent"), RuntimeError("chroma went away")):
        pipeline = instrument(_Raising(exc), metrics)
        with pytest.raises(type(exc)):
            list(pipeline.answer(mode="asr"))
    instrument(pipeline, metrics)  # again: still one count per turn
    with pytest.raises(RuntimeError):
        list(pipeline.answer(mode="asr"))
    value = lambda **labels: metrics.registry.get_sample_value("seal_rag_turns_total", labels)  # noqa: E731
    assert value(mode="asr", outcome="rejected") == 1 and value(mode="asr", outcome="error") == 2
    assert metrics.registry.get_sample_value("seal_rag_turns_in_progress") == 0
