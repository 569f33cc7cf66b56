"""The web console's FastAPI application: API and page routes, static files, /metrics and /healthz, the token
check and per-route request metrics."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streams.redact import redact
from tracker.telemetry.metrics import ProcessMetrics
from tracker.ui.api import api_router
from tracker.ui.auth import COOKIE_NAME, AuthRule, request_allowed
from tracker.ui.pages import STATIC_DIR, page_router
from tracker.ui.reads import Reader

__all__ = ["create_app", "PROCESS_NAME"]

logger = logging.getLogger(__name__)

PROCESS_NAME = "ui"
_API_PATHS = ("/api/", "/metrics", "/docs", "/redoc", "/openapi.json")
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

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        path = request.url.path
        if request.method not in ("GET", "HEAD") and path != "/login":
            response: Response = JSONResponse({"detail": "the web console is read-only: use GET"}, status_code=405,
                                              headers={"Allow": "GET, HEAD"})
        elif not request_allowed(rule, path, request.headers.get("authorization"),
                                 request.cookies.get(COOKIE_NAME)):
            if path.startswith(_API_PATHS) or "text/html" not in request.headers.get("accept", ""):
                response = JSONResponse({"detail": "this console needs its access token: send `Authorization: "
                                                   "Bearer TOKEN` (the token is in the environment variable "
                                                   f"{reader.cfg.ui.token_env} of `mctrack ui`)"},
                                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/login?next=" + urllib.parse.quote(path), status_code=303)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        label = str(getattr(route, "path", "")) or ("/static" if path.startswith("/static/") else "unmatched")
        metrics.ui_requests.labels(route=label, status=str(response.status_code)).inc()
        metrics.ui_latency.labels(route=label).observe(time.perf_counter() - start)
        return response

    return app
