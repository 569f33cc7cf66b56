"""The console's ASGI middleware: read-only (GET only, plus the login form's POST), the access token, and the
per-route request metrics. Plain ASGI (not Starlette's BaseHTTPMiddleware), so a live-events stream sees its
client leave at once."""

from __future__ import annotations

import time
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.telemetry.metrics import ProcessMetrics
from tracker.ui.auth import COOKIE_NAME, AuthRule, request_allowed

__all__ = ["Guard"]

_API_PATHS = ("/api/", "/metrics", "/docs", "/redoc", "/openapi.json")


class Guard:
    """Wraps the app: refuses writes (405) and requests without the token (401 for API clients, a redirect to
    /login for browsers), counts and times every request by route template."""

    def __init__(self, app: ASGIApp, rule: AuthRule, metrics: ProcessMetrics, token_env: str) -> None:
        self.app = app
        self.rule = rule
        self.metrics = metrics
        self.token_env = token_env

    def _refusal(self, request: Request) -> Response | None:
        path = request.url.path
        if request.method not in ("GET", "HEAD") and path != "/login":
            return JSONResponse({"detail": "the web console is read-only: use GET"}, status_code=405,
                                headers={"Allow": "GET"})
        if request_allowed(self.rule, path, request.headers.get("authorization"), request.cookies.get(COOKIE_NAME)):
            return None
        if path.startswith(_API_PATHS) or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": "this console needs its access token: send `Authorization: Bearer TOKEN` "
                                           f"(the token is in the environment variable {self.token_env} of "
                                           "`mctrack ui`)"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login?next=" + urllib.parse.quote(path), status_code=303)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request = Request(scope)

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = request.url.path
                route = scope.get("route")
                label = str(getattr(route, "path", "")) or ("/static" if path.startswith("/static/") else "unmatched")
                self.metrics.ui_requests.labels(route=label, status=str(message["status"])).inc()
                self.metrics.ui_latency.labels(route=label).observe(time.perf_counter() - start)
            await send(message)

        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, counted_send)
        else:
            await self.app(scope, receive, counted_send)
