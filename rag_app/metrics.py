"""Prometheus metrics of one app process: turns, errors, stage latency, turns in progress, queue depth.

Each app replica exposes its own (`/metrics`, see `ui.ops`); Prometheus scrapes every replica and
sums. A `TurnMetrics` owns its registry (not the library's global one), so several apps in one
process, as in the tests, never share or clash.

`instrument(pipeline, metrics)` wraps `pipeline.answer`: every turn that any page or client runs
is counted, its `Trace` stages observed, and how it ended labelled:
- `ok`: the turn ran to its trace without a notice,
- `degraded`: a notice reached the user (the LLM was down, timed out or stopped mid-answer, so
  the answer is cut short or the passages come alone),
- `rejected`: the question could not be used (bad audio, no speech, empty text): the user's
  input, not the service,
- `abandoned`: the caller stopped reading mid-turn (a tab closed),
- `error`: anything else raised out of the turn (a bug or a dead dependency such as Chroma).
"""
from __future__ import annotations

import functools
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rag_app.trace import EventKind

# Turn stages take from a millisecond (search) to tens of seconds (generation on a busy CPU).
STAGE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
OUTCOMES = ("ok", "degraded", "rejected", "abandoned", "error")


class TurnMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns = Counter("seal_rag_turns", "Turns finished, by mode and outcome", ["mode", "outcome"], registry=r)
        self.errors = Counter("seal_rag_turn_errors", "Turns that did not end well, by mode and cause",
                              ["mode", "cause"], registry=r)
        self.stage_seconds = Histogram("seal_rag_stage_seconds", "Time spent in each stage of a turn",
                                       ["mode", "stage"], buckets=STAGE_BUCKETS_S, registry=r)
        self.turn_seconds = Histogram("seal_rag_turn_seconds", "Whole turn, first stage to the last token",
                                      ["mode"], buckets=STAGE_BUCKETS_S, registry=r)
        self.first_token_seconds = Histogram("seal_rag_time_to_first_token_seconds",
                                             "From the start of a turn to the first answer token", ["mode"],
                                             buckets=STAGE_BUCKETS_S, registry=r)
        self.in_progress = Gauge("seal_rag_turns_in_progress", "Turns being computed now", registry=r)
        self.queue_depth = Gauge("seal_rag_queue_depth", "Events waiting in the web app's queue", ["page"], registry=r)

    def watch_queue(self, page: str, depth: Callable[[], int]) -> None:
        """Read a queue's length whenever Prometheus scrapes (no polling thread)."""
        self.queue_depth.labels(page=page).set_function(lambda: float(_safe(depth)))

    def observe_trace(self, trace) -> None:
        for stage, ms in trace.stages_ms.items():
            self.stage_seconds.labels(mode=trace.mode, stage=stage).observe(ms / 1000)
        self.turn_seconds.labels(mode=trace.mode).observe(trace.total_ms / 1000)
        if trace.first_token_ms is not None:
            self.first_token_seconds.labels(mode=trace.mode).observe(trace.first_token_ms / 1000)

    def finish(self, mode: str, outcome: str, cause: str = "") -> None:
        self.turns.labels(mode=mode, outcome=outcome).inc()
        if outcome != "ok":
            self.errors.labels(mode=mode, cause=cause or outcome).inc()


def _safe(depth: Callable[[], int]) -> int:
    try:
        return int(depth())
    except Exception:  # noqa: BLE001 - a scrape must never fail because a queue is not started yet
        return 0


def instrument(pipeline, metrics: TurnMetrics, user_errors: tuple[type[BaseException], ...] = (ValueError,)):
    """Count and time every `pipeline.answer` turn (see the module doc); returns the pipeline."""
    answer = getattr(pipeline.answer, "uninstrumented", pipeline.answer)  # never count a turn twice

    @functools.wraps(answer)
    def counted(*args, **kwargs) -> Iterator:
        mode = kwargs.get("mode", args[2] if len(args) > 2 else "seal")
        outcome, cause = "ok", ""
        metrics.in_progress.inc()
        try:
            for event in answer(*args, **kwargs):
                if event.kind == EventKind.NOTICE:
                    outcome, cause = "degraded", "llm" if "LLM" in str(event.data) else "notice"
                elif event.kind == EventKind.TRACE:
                    metrics.observe_trace(event.data)
                yield event
        except user_errors as exc:
            outcome, cause = "rejected", type(exc).__name__
            raise
        except GeneratorExit:  # the caller stopped reading (a closed browser tab): not an error
            outcome, cause = "abandoned", "abandoned"
            raise
        except BaseException as exc:
            outcome, cause = "error", type(exc).__name__
            raise
        finally:
            metrics.in_progress.dec()
            metrics.finish(mode, outcome, cause)

    counted.uninstrumented = answer
    pipeline.answer = counted
    return pipeline
