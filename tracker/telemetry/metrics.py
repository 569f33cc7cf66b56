"""Prometheus metrics of one process (a camera worker, the hub process or the supervisor) and its HTTP endpoint.

Each process has its own registry (no global state shared with libraries) served on ``metrics.port`` at
``/metrics`` (Prometheus text format) and ``/healthz`` (readiness: 200 ``ok`` when the process is ready, 503 with
the reason otherwise). Labels are bounded: ``camera``, ``stage``, ``process``; never track or identity ids.

Metric names (all prefixed ``mctrack_``) are listed in :data:`METRIC_HELP`, documented in docs/operations.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from tracker.config import Config

__all__ = ["ProcessMetrics", "MetricsServer", "METRIC_HELP", "LATENCY_BUCKETS_S", "Readiness"]

logger = logging.getLogger(__name__)

#: Stage latency buckets in seconds: 1 ms .. 10 s.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Hub assignment latency (publish -> state committed) buckets in seconds: 5 ms .. 60 s.
HUB_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

METRIC_HELP: dict[str, str] = {
    "mctrack_frames_in_total": "Frames decoded from the camera source.",
    "mctrack_frames_processed_total": "Frames that went through the pipeline (CLAHE, detect, Re-ID, associate).",
    "mctrack_frames_dropped_total": "Frames decoded but dropped by the newest-frame policy (processing slower "
                                    "than the camera).",
    "mctrack_source_reconnects_total": "Reconnections of the camera source after a lost or stalled stream.",
    "mctrack_stage_latency_seconds": "Per-frame latency of each stage (decode, clahe, detect, reid, associate, "
                                     "publish).",
    "mctrack_active_tracks": "Confirmed tracks updated in the camera's latest frame.",
    "mctrack_outbox_depth": "Messages buffered for Redis (waiting while Redis is unreachable).",
    "mctrack_outbox_dropped_total": "Messages dropped because the outbox was full (worker.outbox_max_messages).",
    "mctrack_messages_published_total": "Frame messages confirmed by Redis.",
    "mctrack_redis_errors_total": "Failed Redis round trips.",
    "mctrack_redis_reconnects_total": "Recoveries from a Redis outage.",
    "mctrack_snapshots_written_total": "Annotated camera snapshots written to Redis for the web console.",
    "mctrack_snapshots_dropped_total": "Camera snapshots not written: Redis unreachable when due, replaced by a "
                                       "newer one or too old before the writer got to them, or refused by Redis.",
    "mctrack_global_identities": "Global identities in the hub's matching gallery.",
    "mctrack_hub_messages_total": "Stream messages handled by the hub (applied, duplicate-skipped or "
                                  "dead-lettered).",
    "mctrack_hub_dead_letters_total": "Malformed or foreign stream messages the hub dead-lettered.",
    "mctrack_hub_assignment_latency_seconds": "Hub latency from a message's publication to its state being "
                                              "committed in Redis.",
    "mctrack_child_restarts_total": "Restarts of a child process by the supervisor.",
    "mctrack_child_up": "1 while the supervisor's child process is running.",
    "mctrack_ready": "1 when this process is ready (see /healthz).",
    "mctrack_ui_requests_total": "HTTP requests answered by the web console (`mctrack ui`), by route template and "
                                 "status code.",
    "mctrack_ui_request_latency_seconds": "Time the web console took to answer a request (to the first byte of a "
                                          "live-events stream), by route template.",
    "mctrack_ui_event_streams": "Live-events (server-sent events) clients connected to the web console.",
}


def _h(name: str) -> str:
    return METRIC_HELP[name]


class Readiness:
    """A thread-safe readiness flag with a reason, answered by ``/healthz``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "starting"

    def set(self, ready: bool, reason: str = "") -> None:
        with self._lock:
            self._ready, self._reason = ready, reason or ("ok" if ready else "not ready")

    def get(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason


class ProcessMetrics:
    """All metric families of mctrack in one private registry (a process uses the ones for its role).

    ``add_total(counter, total, **labels)`` turns a running total kept elsewhere (a source's or the outbox's
    counters) into counter increments.
    """

    def __init__(self, process: str) -> None:
        self.process = process
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        cam = ["camera"]
        self.frames_in = Counter("mctrack_frames_in", _h("mctrack_frames_in_total"), cam, registry=r)
        self.frames_processed = Counter("mctrack_frames_processed", _h("mctrack_frames_processed_total"), cam,
                                        registry=r)
        self.frames_dropped = Counter("mctrack_frames_dropped", _h("mctrack_frames_dropped_total"), cam,
                                      registry=r)
        self.source_reconnects = Counter("mctrack_source_reconnects", _h("mctrack_source_reconnects_total"), cam,
                                         registry=r)
        self.stage_latency = Histogram("mctrack_stage_latency_seconds", _h("mctrack_stage_latency_seconds"),
                                       ["camera", "stage"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.active_tracks = Gauge("mctrack_active_tracks", _h("mctrack_active_tracks"), cam, registry=r)
        self.outbox_depth = Gauge("mctrack_outbox_depth", _h("mctrack_outbox_depth"), ["process"], registry=r)
        self.outbox_dropped = Counter("mctrack_outbox_dropped", _h("mctrack_outbox_dropped_total"), ["process"],
                                      registry=r)
        self.messages_published = Counter("mctrack_messages_published",
                                          _h("mctrack_messages_published_total"), ["process"], registry=r)
        self.redis_errors = Counter("mctrack_redis_errors", _h("mctrack_redis_errors_total"), ["process"],
                                    registry=r)
        self.redis_reconnects = Counter("mctrack_redis_reconnects", _h("mctrack_redis_reconnects_total"),
                                        ["process"], registry=r)
        self.snapshots_written = Counter("mctrack_snapshots_written", _h("mctrack_snapshots_written_total"), cam,
                                         registry=r)
        self.snapshots_dropped = Counter("mctrack_snapshots_dropped", _h("mctrack_snapshots_dropped_total"), cam,
                                         registry=r)
        self.global_identities = Gauge("mctrack_global_identities", _h("mctrack_global_identities"), registry=r)
        self.hub_messages = Counter("mctrack_hub_messages", _h("mctrack_hub_messages_total"), registry=r)
        self.hub_dead_letters = Counter("mctrack_hub_dead_letters", _h("mctrack_hub_dead_letters_total"),
                                        registry=r)
        self.hub_latency = Histogram("mctrack_hub_assignment_latency_seconds",
                                     _h("mctrack_hub_assignment_latency_seconds"), buckets=HUB_LATENCY_BUCKETS_S,
                                     registry=r)
        self.child_restarts = Counter("mctrack_child_restarts", _h("mctrack_child_restarts_total"), ["child"],
                                      registry=r)
        self.child_up = Gauge("mctrack_child_up", _h("mctrack_child_up"), ["child"], registry=r)
        self.ready = Gauge("mctrack_ready", _h("mctrack_ready"), registry=r)
        self.ui_requests = Counter("mctrack_ui_requests", _h("mctrack_ui_requests_total"), ["route", "status"],
                                   registry=r)
        self.ui_latency = Histogram("mctrack_ui_request_latency_seconds", _h("mctrack_ui_request_latency_seconds"),
                                    ["route"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.ui_event_streams = Gauge("mctrack_ui_event_streams", _h("mctrack_ui_event_streams"), registry=r)
        self._totals: dict[tuple[int, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()

    def add_total(self, counter: Counter, total: float, **labels: str) -> None:
        """Increment ``counter`` (with ``labels``) by how much ``total`` grew since the last call."""
        key = (id(counter), tuple(sorted(labels.items())))
        with self._lock:
            delta = total - self._totals.get(key, 0.0)
            self._totals[key] = max(total, self._totals.get(key, 0.0))
        if delta > 0:
            (counter.labels(**labels) if labels else counter).inc(delta)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """HTTP server for ``/metrics`` and ``/healthz`` in a daemon thread.

    Args:
        metrics: what ``/metrics`` serves.
        readiness: what ``/healthz`` answers.
        host, port: where to listen (port 0 picks a free one; :attr:`port` tells which).
    """

    def __init__(self, metrics: ProcessMetrics, readiness: Readiness, host: str, port: int,
                 on_scrape: Callable[[], None] | None = None) -> None:
        self.metrics = metrics
        self.readiness = readiness
        handler = _make_handler(metrics, readiness, on_scrape)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}); choose a free "
                          f"metrics.port (or 0 to turn metrics off)") from None
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        logger.info("metrics on http://%s:%d/metrics, readiness on /healthz", self.host, self.port)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(metrics: ProcessMetrics, readiness: Readiness,
                  on_scrape: Callable[[], None] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if on_scrape is not None:
                    try:
                        on_scrape()
                    except Exception as exc:  # a scrape must not fail because a refresh did
                        logger.debug("metrics refresh failed: %s", exc)
                self._reply(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok, reason = readiness.get()
                self._reply(200 if ok else 503, (reason + "\n").encode(), "text/plain; charset=utf-8")
            else:
                self._reply(404, b"not found: use /metrics or /healthz\n", "text/plain; charset=utf-8")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server API
            logger.debug("metrics http: " + format, *args)

    return Handler


def start_metrics(cfg: Config, port: int | None, metrics: ProcessMetrics, readiness: Readiness,
                  on_scrape: Callable[[], None] | None = None) -> MetricsServer | None:
    """Serve /metrics and /healthz on ``port`` (default ``metrics.port``; 0 = off)."""
    chosen = cfg.metrics.port if port is None else port
    if not chosen:
        return None
    return MetricsServer(metrics, readiness, cfg.metrics.host, chosen, on_scrape).start()
