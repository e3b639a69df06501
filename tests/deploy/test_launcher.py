"""The local launcher's logic without models: the plan it makes, and that it stops every process
it started (grandchildren too, a service ignoring SIGTERM too) on SIGINT/SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.launcher import (Launcher, Plan, Ports, Service, StartupError, _members, busy_ports,
                             plan_topology)

ROOT = Path(__file__).resolve().parents[2]


def test_the_plan_wires_apps_to_the_router_and_the_one_chroma(tmp_path):
    plan = plan_topology(2, 2, tmp_path, Path("/models/smollm2"), Ports(17000, 18000, 18100),
                         app_bin_dir=Path("/app/bin"), vllm_venv=Path("/vllm"), sample=Path("/kb/sample"))
    names = [[s.name for s in stage] for stage in plan.stages]
    assert names == [["chroma", "vllm-1", "vllm-2"], ["router"], ["app-1"], ["app-2"]]
    chroma, vllm1, vllm2 = plan.stages[0]
    router = plan.stages[1][0]
    assert chroma.argv == ["/app/bin/chroma", "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", "18000"]
    assert vllm1.argv[:3] == ["/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert vllm2.url == "http://127.0.0.1:18102" and vllm2.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    workers = router.argv[router.argv.index("--worker-urls") + 1: router.argv.index("--host")]
    assert workers == [vllm1.url, vllm2.url] and router.url == "http://127.0.0.1:18100/v1"
    for i, app in enumerate(s for s in plan.services if s.name.startswith("app-")):
        assert app.env["SEAL_RAG_CHROMA_URL"] == chroma.url and app.env["SEAL_RAG_LLM_BASE_URL"] == router.url
        assert app.ready_url == f"http://127.0.0.1:{17000 + i}/healthz"
        assert ("--sample" in app.argv) == (i == 0)  # only the first replica fills an empty Chroma
    every_host = [a for s in plan.services for a, b in zip(s.argv, s.argv[1:]) if a in ("--host", "--prometheus-host")]
    assert every_host and all(s.argv[s.argv.index(h) + 1] == "127.0.0.1" for s in plan.services for h in every_host if h in s.argv)


def test_overlapping_or_busy_ports_are_refused(tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        plan_topology(3, 1, tmp_path, Path("m"), Ports(app=8000, chroma=8001))
    with pytest.raises(ValueError, match="at least 1"):
        plan_topology(1, 0, tmp_path, Path("m"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        plan = Plan([[Service("chroma", ["x"], f"http://127.0.0.1:{port}", "")]], tmp_path)
        assert busy_ports(plan) == [f"chroma:{port}"]


# Each dummy service leaves a grandchild in its process group, like vLLM's engine process.
SLEEPER = ["bash", "-c", "sleep 300 & sleep 300"]
STUBBORN = ["bash", "-c", "trap '' TERM; sleep 300 & wait"]


def _dummy_plan(tmp_path: Path) -> Plan:
    return Plan([[Service("chroma", SLEEPER, "http://127.0.0.1:1", "ok"), Service("vllm-1", SLEEPER, "u", "ok")],
                 [Service("app-1", STUBBORN, "http://127.0.0.1:2/", "ok")]], tmp_path)


def test_stop_leaves_no_process_of_any_group(tmp_path):
    launcher = Launcher(_dummy_plan(tmp_path), log=lambda _m: None, grace_s=1.0, ready=lambda _url: True)
    launcher.start()
    groups = [s.process.pid for s in launcher.started]
    time.sleep(0.3)  # the grandchildren are up
    assert all(len(_members(g)) >= 2 for g in groups)
    assert json.loads(launcher.topology_path.read_text())["apps"] == ["http://127.0.0.1:2/"]
    killed = launcher.stop()
    assert killed == ["app-1"]  # ignored SIGTERM, so it got SIGKILL after the grace period
    assert all(_members(g) == [] for g in groups) and not launcher.topology_path.exists()


def test_a_service_that_dies_at_startup_stops_the_start_with_its_log(tmp_path):
    plan = Plan([[Service("chroma", SLEEPER, "u", "ok")],
                 [Service("router", ["bash", "-c", "echo no workers reachable; exit 3"], "u", "never")]], tmp_path)
    launcher = Launcher(plan, log=lambda _m: None, grace_s=1.0, ready=lambda url: url == "ok")
    with pytest.raises(StartupError, match="(?s)router exited with code 3.*no workers reachable"):
        launcher.start()
    launcher.stop()
    assert all(_members(s.process.pid) == [] for s in plan.services)


_RUN = """
import sys
from pathlib import Path
from deploy.launcher import Launcher, run_until_stopped
from tests.deploy.test_launcher import _dummy_plan
never_ready = sys.argv[2] == "starting"  # app-1 never becomes healthy: the signal comes during the start
launcher = Launcher(_dummy_plan(Path(sys.argv[1])), grace_s=1.0, ready=lambda url: not (never_ready and url.endswith(":2/")))
sys.exit(run_until_stopped(launcher, poll_s=0.1))
"""


@pytest.mark.parametrize("sig,when", [(signal.SIGINT, "up"), (signal.SIGTERM, "up"), (signal.SIGINT, "starting")])
def test_ctrl_c_or_sigterm_stops_everything_it_started(tmp_path, sig, when):
    process = subprocess.Popen([sys.executable, "-c", _RUN, str(tmp_path), when], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "topology:" in line or (when == "starting" and "app-1    started" in line):
            break
    groups = [s["pid"] for s in json.loads((tmp_path / "topology.json").read_text())["services"]]
    assert len(groups) == 3 and ("seal-rag is up" in "".join(lines)) == (when == "up")
    process.send_signal(sig)
    rest = process.communicate(timeout=60)[0]
    assert process.returncode == 0 and f"{sig.name} received" in rest and "stopped" in rest
    assert all(_members(g) == [] for g in groups)
