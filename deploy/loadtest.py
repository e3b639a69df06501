"""`seal-rag bench load`: concurrent spoken turns through the app's public HTTP API, as users.

Each virtual user loops: upload a real recording (`/gradio_api/upload`, what the page does when
you stop recording), ask it in SEAL mode (`POST /gradio_api/call/on_ask`, the chat page's Ask button;
see ui.chat) and read the streamed answer (`GET .../call/ask/{event_id}`, server-sent events) until
it completes. User i talks to replica i mod M all run long, as a sticky proxy would place it.

What each turn ended as, from what the user was shown:
- `ok`: an answer with no notice,
- `degraded`: the page said the LLM failed (the answer cut short, or passages only),
- `failed`: the request failed (HTTP error, an error event, no answer within the turn timeout).

Per-stage milliseconds are the app's own trace, read from the latency legend the page shows under
each answer; `client` is the wall time the user waited (upload, queue and turn), `client_ttft`
until the first answer token arrived. The run is bounded: no new turn starts after `duration_s`
or once `max_turns` have started, and a turn gives up after `turn_timeout_s`.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rag_app.trace import STAGE_ORDER
from seal_model.audio import SAMPLE_RATE

_LEGEND = re.compile(r"<div class='latency-legend'><small>(.*?)</small>")
_STAGE = re.compile(r"([a-z_]+) (\d+) ms")
_TOTAL = re.compile(r"total (\d+) ms")


@dataclass
class Turn:
    user: int
    app: str
    start_s: float  # since the run started
    outcome: str = "failed"  # ok | degraded | failed
    detail: str = ""
    client_ms: float = 0.0
    client_ttft_ms: float | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)


def parse_sse(lines: list[str]) -> list[tuple[str, object]]:
    """(event, data) pairs of a Gradio /call stream (`event: NAME` then `data: JSON`)."""
    events, name = [], None
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:") and name is not None:
            raw = line[5:].strip()
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw
            events.append((name, data))
            name = None
    return events


def read_outputs(data: list) -> dict:
    """The chat page's outputs, found by content (the order is ui.chat's, but this does not rely
    on it): the answer, the notice shown, the per-stage trace of the latency legend."""
    found: dict = {"answer": "", "notice": "", "stages_ms": {}}
    for item in data or []:
        if isinstance(item, list) and item and isinstance(item[-1], dict) and item[-1].get("role") == "assistant":
            found["answer"] = _text(item[-1].get("content"))
        elif isinstance(item, str) and "latency-chart" in item:
            legend = _LEGEND.search(item)
            if legend:
                found["stages_ms"] = {k: float(v) for k, v in _STAGE.findall(legend.group(1))}
            total = _TOTAL.search(item)
            if total:
                found["stages_ms"]["total"] = float(total.group(1))
        elif isinstance(item, str) and ("**Notice:**" in item or "**Could not use" in item):
            found["notice"] = item
    return found


def _text(content) -> str:
    """A chat message's content as the API returns it: a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def classify(outputs: dict) -> tuple[str, str]:
    notice = outputs["notice"]
    if "Could not use" in notice:
        return "failed", notice
    if notice:
        return "degraded", notice
    answer = outputs["answer"].strip()
    if not answer or answer in ("…", "(no answer)"):
        return "failed", f"no answer ({answer!r})"
    return "ok", ""


async def one_turn(client, base: str, clip: Path, user: int, t0: float, timeout_s: float) -> Turn:
    import httpx

    turn = Turn(user, base, time.monotonic() - t0)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            with open(clip, "rb") as fh:
                upload = await client.post(f"{base}/gradio_api/upload", files=[("files", (clip.name, fh.read(), "audio/wav"))])
            upload.raise_for_status()
            audio = {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": clip.name}
            call = await client.post(f"{base}/gradio_api/call/on_ask", json={"data": [audio, "", "seal", False, []]})
            call.raise_for_status()
            last: list = []
            async with client.stream("GET", f"{base}/gradio_api/call/on_ask/{call.json()['event_id']}") as stream:
                stream.raise_for_status()
                pending: list[str] = []
                async for line in stream.aiter_lines():
                    pending.append(line)
                    if line:
                        continue
                    for event, data in parse_sse(pending):
                        if event == "error":
                            raise RuntimeError(f"the app answered with an error event: {str(data)[:200]}")
                        if event in ("generating", "complete") and isinstance(data, list):
                            last = data
                            answer = read_outputs(data)["answer"]
                            if turn.client_ttft_ms is None and answer and answer != "…":
                                turn.client_ttft_ms = (time.perf_counter() - started) * 1000
                    pending = []
            outputs = read_outputs(last)
            turn.outcome, turn.detail = classify(outputs)
            turn.stages_ms = outputs["stages_ms"]
    except TimeoutError:
        turn.outcome, turn.detail = "failed", f"no answer within {timeout_s:.0f} s"
    except (httpx.HTTPError, RuntimeError, ValueError, KeyError, OSError) as exc:
        turn.outcome, turn.detail = "failed", f"{type(exc).__name__}: {str(exc)[:200]}"
    turn.client_ms = (time.perf_counter() - started) * 1000
    return turn


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    apps: list[str]
    turns: list[Turn]
    killed: dict | None = None

    def summary(self) -> dict:
        done = self.turns
        ok = [t for t in done if t.outcome == "ok"]
        stages: dict[str, list[float]] = {}
        for t in ok:
            for name, ms in t.stages_ms.items():
                stages.setdefault(name, []).append(ms)
            stages.setdefault("client", []).append(t.client_ms)
            if t.client_ttft_ms is not None:
                stages.setdefault("client_ttft", []).append(t.client_ttft_ms)
        table = {name: {"p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)), "n": len(v)}
                 for name, v in stages.items()}
        out = {"concurrency": self.concurrency, "duration_s": round(self.duration_s, 1), "apps": self.apps,
               "turns": len(done), "ok": len(ok), "degraded": sum(t.outcome == "degraded" for t in done),
               "failed": sum(t.outcome == "failed" for t in done),
               "throughput_turns_per_s": len(ok) / self.duration_s if self.duration_s else 0.0,
               "per_app": {app: sum(t.app == app for t in done) for app in self.apps}, "stages": table}
        if self.killed:
            after = [t for t in done if t.start_s + t.client_ms / 1000 >= self.killed["at_s"]]
            out["killed"] = {**self.killed, "turns_ending_after": len(after),
                             "not_ok_after": sum(t.outcome != "ok" for t in after),
                             "what_users_saw": sorted({t.detail[:160] for t in after if t.outcome != "ok"})}
        return out


def kill_replica(topology: Path, name: str) -> dict:
    """SIGKILL a service's whole process group by its name in the launcher's topology.json."""
    services = {s["name"]: s for s in json.loads(topology.read_text())["services"]}
    if name not in services:
        raise ValueError(f"no service {name!r} in {topology} (have {', '.join(services)})")
    pid = services[name]["pid"]
    os.killpg(pid, signal.SIGKILL)
    return {"name": name, "pid": pid, "url": services[name]["url"]}


async def run_load(apps: list[str], clips: list[Path], concurrency: int, duration_s: float, max_turns: int,
                   turn_timeout_s: float = 180.0, kill_after_s: float | None = None,
                   kill: Callable[[], dict] | None = None, log: Callable[[str], None] = print) -> LoadResult:
    import httpx

    if not apps or not clips:
        raise ValueError("need at least one app URL and one clip")
    apps = [a.rstrip("/") for a in apps]
    t0 = time.monotonic()
    turns: list[Turn] = []
    started = 0
    killed: dict | None = None

    async def user(i: int, client) -> None:
        nonlocal started
        app = apps[i % len(apps)]
        n = 0
        while time.monotonic() - t0 < duration_s and started < max_turns:
            started += 1
            turn = await one_turn(client, app, clips[(i + n * concurrency) % len(clips)], i, t0, turn_timeout_s)
            n += 1
            turns.append(turn)
            if turn.outcome != "ok":
                log(f"  user {i} @ {turn.start_s:.0f} s: {turn.outcome}: {turn.detail[:160]}")
            if turn.outcome == "failed":
                await asyncio.sleep(1.0)  # a user retries after a moment, not in a tight loop

    async def killer() -> None:
        nonlocal killed
        await asyncio.sleep(kill_after_s)
        if time.monotonic() - t0 < duration_s and started < max_turns:
            info = kill()
            killed = {**info, "at_s": round(time.monotonic() - t0, 1)}
            log(f"  killed {info['name']} (pid {info['pid']}) at {killed['at_s']} s")

    async def progress() -> None:
        while True:
            await asyncio.sleep(15)
            log(f"  {time.monotonic() - t0:5.0f} s: {len(turns)} turns done, "
                f"{sum(t.outcome != 'ok' for t in turns)} not ok")

    limits = httpx.Limits(max_connections=concurrency * 2 + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(turn_timeout_s, connect=10), limits=limits) as client:
        tasks = [asyncio.create_task(user(i, client)) for i in range(concurrency)]
        extra = [asyncio.create_task(progress())]
        if kill_after_s is not None and kill is not None:
            extra.append(asyncio.create_task(killer()))
        await asyncio.gather(*tasks)
        for task in extra:
            task.cancel()
    return LoadResult(concurrency, time.monotonic() - t0, apps, turns, killed)


def question_clips(folder: Path, count: int, voice: str) -> list[Path]:
    """The first `count` sample-KB questions spoken by `voice`, as WAV files (made once, then reused)."""
    import soundfile as sf

    from knowledge_base import SAMPLE_QUESTIONS
    from seal_model.jsonl import read_jsonl
    from seal_model.voices import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    rows = read_jsonl(SAMPLE_QUESTIONS)[:count]
    paths = []
    for n, row in enumerate(rows):
        path = folder / f"{voice.replace(':', '-')}-{n:03d}.wav"
        if not path.exists():
            tmp = path.with_suffix(".tmp.wav")
            sf.write(tmp, synthesize(voice, row["question"]), SAMPLE_RATE)
            tmp.replace(path)
        paths.append(path)
    return paths


def format_summary(s: dict) -> str:
    lines = [f"{s['concurrency']} concurrent, {s['turns']} turns in {s['duration_s']:.0f} s: {s['ok']} ok, "
             f"{s['degraded']} degraded (LLM notice), {s['failed']} failed; "
             f"throughput {s['throughput_turns_per_s']:.3f} answered turns/s",
             "turns per app: " + ", ".join(f"{a} {n}" for a, n in s["per_app"].items()),
             f"{'stage':<20}{'p50 ms':>10}{'p95 ms':>10}{'n':>6}   (answered turns)"]
    order = [*STAGE_ORDER, "client_ttft", "client"]
    for name in order + sorted(set(s["stages"]) - set(order)):
        if name in s["stages"]:
            row = s["stages"][name]
            lines.append(f"{name:<20}{row['p50_ms']:>10.0f}{row['p95_ms']:>10.0f}{row['n']:>6}")
    if "killed" in s:
        k = s["killed"]
        lines.append(f"killed {k['name']} at {k['at_s']} s: of {k['turns_ending_after']} turns ending after it, "
                     f"{k['not_ok_after']} not ok")
        lines += [f"  users saw: {line}" for line in k["what_users_saw"]]
    return "\n".join(lines)


def save(result: LoadResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": result.summary(), "turns": [asdict(t) for t in result.turns]}, indent=2))
