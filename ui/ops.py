"""Operations endpoints on the app's FastAPI server: `/metrics` (Prometheus) and `/healthz` (JSON).

They are plain routes registered before the Gradio pages are mounted (a mount at `/` takes every
path registered after it), need no credentials (a scraper and a load balancer have none; keep them
off the public side of the proxy, as deploy/nginx.conf does), and are sync functions so the health
check's network calls run in FastAPI's thread pool, never on the event loop that streams answers.
"""
from __future__ import annotations

from rag_app.audio import AudioError
from rag_app.health import check_health
from rag_app.metrics import TurnMetrics, instrument
from rag_app.vad import NoSpeechError

# The question could not be used (ui.chat shows these to the user too); a Chroma failure, which
# ui.chat also shows, is counted as an error of the service here.
USER_ERRORS = (AudioError, NoSpeechError, ValueError)


def add_ops_routes(app, pipeline, pages: dict) -> TurnMetrics:
    """Instrument the pipeline and add the two routes; `pages` maps a label to a queued gr.Blocks."""
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = TurnMetrics()
    instrument(pipeline, metrics, USER_ERRORS)
    for label, blocks in pages.items():
        metrics.watch_queue(label, lambda blocks=blocks: len(blocks._queue))

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        healthy, report = check_health(pipeline)
        return JSONResponse(report, status_code=200 if healthy else 503)

    return metrics
