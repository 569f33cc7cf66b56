"""The web console's FastAPI application: API and page routes, static files, /metrics and /healthz, the token
check and per-route request metrics."""

from __future__ import annotations

import logging
import threading

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streams.redact import redact
from tracker.telemetry.metrics import ProcessMetrics
from tracker.ui.api import api_router
from tracker.ui.auth import AuthRule
from tracker.ui.guard import Guard
from tracker.ui.pages import STATIC_DIR, page_router
from tracker.ui.reads import Reader

__all__ = ["create_app", "PROCESS_NAME"]

logger = logging.getLogger(__name__)

PROCESS_NAME = "ui"
_DESCRIPTION = ("Read-only HTTP API of mctrack's web console over the hub's Redis keys. Times are camera time in "
                "seconds (Unix time for live cameras, media time for replays). When a token is set (see "
                "`ui.token_env`) every call needs `Authorization: Bearer TOKEN`. See docs/api.md.")


def create_app(reader: Reader, rule: AuthRule, metrics: ProcessMetrics | None = None,
               stop: threading.Event | None = None) -> FastAPI:
    """The application for one site. ``stop`` ends the live-events streams (set it when shutting down)."""
    metrics = metrics or ProcessMetrics(PROCESS_NAME)
    stop = stop or threading.Event()
    app = FastAPI(title="mctrack web console API", version="1", description=_DESCRIPTION, redoc_url=None)
    app.include_router(api_router(reader, metrics, stop))
    app.include_router(page_router(reader, rule))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        try:
            reader.client.ping()
        except redis.RedisError as exc:
            return PlainTextResponse(f"redis unreachable: {redact(str(exc))}\n", status_code=503)
        return PlainTextResponse("ok\n")

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(redis.RedisError)
    async def redis_down(request: Request, exc: redis.RedisError) -> JSONResponse:
        metrics.redis_errors.labels(process=PROCESS_NAME).inc()
        logger.warning("%s %s: Redis error: %s", request.method, request.url.path, redact(str(exc)))
        return JSONResponse({"detail": f"Redis is unreachable or failed: {redact(str(exc))}"}, status_code=503)

    app.add_middleware(Guard, rule=rule, metrics=metrics, token_env=reader.cfg.ui.token_env)

    return app
