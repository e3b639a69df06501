"""Is this app process able to answer? One check per dependency: the models, Chroma, the LLM.

`check_health(pipeline)` returns `(healthy, report)`; the report is JSON-ready:

    {"status": "ok" | "fail",
     "checks": {"models": {"ok": true, "ms": 8.1, "detail": "..."},
                "chroma": {...}, "llm": {...}}}

Each check does real work, kept small: the text tower embeds one word (the models are loaded and
run), Chroma answers a heartbeat and counts the collection (the server is up and the collection
is there), the LLM server lists its models within a short timeout (3 s; an embedded LLM is checked by
being loaded). A replica whose LLM is down still serves passages, but it is reported `fail` so a
load balancer or an operator sees it; the report says which check failed.
"""
from __future__ import annotations

import time
from typing import Callable


def _timed(check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except Exception as exc:  # noqa: BLE001 - any failure is a result to report
        detail, ok = f"{type(exc).__name__}: {str(exc)[:200]}", False
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1), "detail": detail}


def _models(pipeline) -> str:
    vector = pipeline.seal.embed_text(["health"])
    if vector.shape[-1] == 0:
        raise RuntimeError("the text tower returned an empty vector")
    config = getattr(pipeline.seal, "config", None)
    return f"whisper {getattr(config, 'whisper_name', '?')}, text encoder {getattr(config, 'text_encoder_name', '?')}"


def _chroma(pipeline) -> str:
    kb = pipeline.kb
    kb.client.heartbeat()
    return f"collection {kb.name}: {kb.collection.count()} chunks"


def _llm(pipeline, timeout_s: float) -> str:
    llm = pipeline.llm
    if llm is None:
        return "none configured (retrieval only)"
    client = getattr(llm, "client", None)
    if client is None:  # embedded: loaded with the app, nothing to reach
        return llm.health()
    models = client.with_options(timeout=timeout_s).models.list()
    return f"{llm.base_url}: {', '.join(m.id for m in models.data)}"


def check_health(pipeline, llm_timeout_s: float = 3.0) -> tuple[bool, dict]:
    checks = {
        "models": _timed(lambda: _models(pipeline)),
        "chroma": _timed(lambda: _chroma(pipeline)),
        "llm": _timed(lambda: _llm(pipeline, llm_timeout_s)),
    }
    healthy = all(c["ok"] for c in checks.values())
    return healthy, {"status": "ok" if healthy else "fail", "checks": checks}
