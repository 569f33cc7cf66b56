"""What ``mctrack status`` and Prometheus see of a serving hub: heartbeats and metrics.

* Heartbeats go through an :class:`tracker.bus.outbox.Outbox` of their own (a separate connection that survives
  Redis outages) and are written only while the hub's step counter moves, so a hung hub stops beating and the
  supervisor (or an operator) can tell.
* Metrics: messages, dead letters, identities in the gallery, assignment latency (publish -> committed) and
  readiness, served on ``/metrics`` and ``/healthz`` (see :mod:`tracker.telemetry.metrics`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

from prometheus_client import Histogram

from tracker.bus.heartbeat import (
    HUB_NAME,
    KIND_HUB,
    HeartbeatKeys,
    HeartbeatRecord,
    write_heartbeat,
)
from tracker.bus.write_behind import make_outbox
from tracker.config import Config
from tracker.hub.consumer import Hub
from tracker.telemetry.metrics import (
    MetricsServer,
    ProcessMetrics,
    Readiness,
    start_metrics,
)

__all__ = ["HubMonitor", "ObservedLatencies"]

logger = logging.getLogger(__name__)

_MS_PER_S = 1000.0


class ObservedLatencies(collections.deque[float]):
    """The hub's bounded latency reservoir (milliseconds) that also feeds a Prometheus histogram (seconds)."""

    def __init__(self, histogram: Histogram, maxlen: int | None) -> None:
        super().__init__(maxlen=maxlen)
        self._histogram = histogram

    def extend(self, values: Iterable[float]) -> None:
        values = list(values)
        for ms in values:
            self._histogram.observe(max(0.0, ms) / _MS_PER_S)
        super().extend(values)


class HubMonitor:
    """Heartbeats and metrics of one hub process.

    Args:
        cfg: full configuration (``worker.heartbeat_*``, ``worker.redis_*`` backoff, ``metrics``, ``redis``).
        redis_url: where the heartbeats go (the URL the hub uses; an embedded server's ``child_url``).
        metrics_port: port of ``/metrics`` and ``/healthz`` (None: ``metrics.port``; 0: off).

    Raises:
        ConfigError: the Redis URL has an unsupported scheme.
    """

    def __init__(self, cfg: Config, redis_url: str, metrics_port: int | None) -> None:
        self.cfg = cfg
        self.metrics = ProcessMetrics("hub")
        self.readiness = Readiness()
        self._metrics_port = metrics_port
        self._outbox, self._handles = make_outbox(cfg, redis_url, HUB_NAME)
        self._keys = HeartbeatKeys(cfg.redis.key_prefix)
        self._record = HeartbeatRecord(kind=KIND_HUB, name=HUB_NAME)
        self._server: MetricsServer | None = None
        self._hub: Hub | None = None
        self._last_steps = 0
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def metrics_server(self) -> MetricsServer | None:
        return self._server

    def start(self) -> None:
        """Start the heartbeat writer and the metrics server, and report ``starting``.

        Raises:
            OSError: the metrics port is taken (the message says to choose a free one).
        """
        self._outbox.start()
        self._server = start_metrics(self.cfg, self._metrics_port, self.metrics, self.readiness)
        self.beat(state="starting")

    def beat(self, *, state: str | None = None, messages: int | None = None, identities: int | None = None,
             dead_letters: int | None = None, last_error: str | None = None) -> None:
        """Queue a heartbeat: the previous record with the given fields (None: unchanged) and the outbox's Redis
        error counters applied."""
        ob = self._outbox.stats()
        with self._lock:
            old = self._record
            self._record = replace(
                old, updated_at=time.time(), redis_errors=ob.redis_errors, redis_reconnects=ob.reconnects,
                state=old.state if state is None else state,
                messages=old.messages if messages is None else messages,
                identities=old.identities if identities is None else identities,
                dead_letters=old.dead_letters if dead_letters is None else dead_letters,
                last_error=old.last_error if last_error is None else last_error)
            rec = self._record
        keys, ttl_s = self._keys, self.cfg.worker.heartbeat_ttl_s
        self._outbox.set_latest("heartbeat", lambda client: write_heartbeat(client, keys, rec, ttl_s))

    def attach(self, hub: Hub) -> None:
        """Watch ``hub`` (before it starts): its latencies feed the histogram, and every heartbeat interval its
        counters become metrics and, if it made a step, a heartbeat."""
        hub.latencies_ms = ObservedLatencies(self.metrics.hub_latency, hub.latencies_ms.maxlen)
        self._hub = hub
        self._watcher = threading.Thread(target=self._watch, name="hub-heartbeat", daemon=True)
        self._watcher.start()

    def refresh(self) -> None:
        """One round: metrics from the hub's counters; readiness and a heartbeat only if the hub made a step."""
        hub = self._hub
        if hub is None:
            return
        st = hub.stats
        m = self.metrics
        m.add_total(m.hub_messages, st.messages)
        m.add_total(m.hub_dead_letters, st.dead_letters)
        identities = len(hub.engine.identities)
        m.global_identities.set(identities)
        progressed = st.steps != self._last_steps
        self._last_steps = st.steps
        self.readiness.set(progressed, "ok" if progressed else "hub is not stepping (Redis down or starting)")
        m.ready.set(1 if progressed else 0)
        if progressed:
            self.beat(state="running", messages=st.messages, identities=identities, dead_letters=st.dead_letters,
                      last_error="")

    def _watch(self) -> None:
        while not self._watch_stop.wait(self.cfg.worker.heartbeat_interval_s):
            self.refresh()

    def stop_watching(self) -> None:
        """Stop the periodic rounds (call before the final heartbeat, so no late ``running`` replaces it)."""
        self._watch_stop.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join(timeout=self.cfg.worker.heartbeat_interval_s + 1.0)

    def close(self) -> None:
        """Stop watching, flush the last heartbeat (up to ``worker.stop_timeout_s``), stop the metrics server."""
        self.stop_watching()
        self._outbox.close(self.cfg.worker.stop_timeout_s)
        for h in self._handles:
            try:
                h.close()
            except Exception as exc:  # pragma: no cover - best effort
                logger.debug("closing Redis: %s", exc)
        if self._server is not None:
            self._server.close()
            self._server = None
