"""The hub as a supervised process: :class:`tracker.hub.consumer.Hub` plus heartbeats, metrics and a stop event.

The hub's own loop (:meth:`tracker.hub.consumer.Hub.run`) survives Redis outages; this wrapper adds what ``mctrack run``
needs to watch it: a heartbeat (written through an :class:`tracker.bus.outbox.Outbox`, only while the hub's step
counter moves, so a hung hub stops beating) and Prometheus metrics (messages, dead letters, identities,
assignment latency).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import replace
from typing import Any

from streams.redact import redact
from tracker.bus.heartbeat import (
    HUB_NAME,
    KIND_HUB,
    HeartbeatKeys,
    HeartbeatRecord,
    write_heartbeat,
)
from tracker.bus.write_behind import make_outbox
from tracker.config import Config
from tracker.telemetry.exit_codes import EXIT_ERROR, EXIT_OK
from tracker.telemetry.logs import set_camera_id
from tracker.telemetry.metrics import ProcessMetrics, Readiness, start_metrics

__all__ = ["run_hub_process", "ObservedLatencies"]

logger = logging.getLogger(__name__)

_MS_PER_S = 1000.0


class ObservedLatencies(collections.deque):  # type: ignore[type-arg]
    """The hub's bounded latency reservoir (milliseconds) that also feeds a Prometheus histogram (seconds)."""

    def __init__(self, histogram: Any, maxlen: int | None) -> None:
        super().__init__(maxlen=maxlen)
        self._histogram = histogram

    def extend(self, values: Any) -> None:  # type: ignore[override]
        values = list(values)
        for ms in values:
            self._histogram.observe(max(0.0, ms) / _MS_PER_S)
        super().extend(values)


def run_hub_process(cfg: Config, *, redis_url: str | None = None, stop: threading.Event | None = None,
                    metrics_port: int | None = None, consumer: str | None = None) -> int:
    """Run the hub until ``stop`` is set. Returns an exit code (0 clean stop, 1 lock lost/unexpected, 2 fatal)."""
    from tracker.bus.connection import RedisUnavailableError, connect
    from tracker.hub.consumer import Hub, HubLockedError, HubLockLostError

    stop = stop or threading.Event()
    set_camera_id(HUB_NAME)
    metrics = ProcessMetrics("hub")
    readiness = Readiness()
    outbox, handles = make_outbox(cfg, redis_url, HUB_NAME)
    outbox.start()
    keys = HeartbeatKeys(cfg.redis.key_prefix)
    record = HeartbeatRecord(kind=KIND_HUB, name=HUB_NAME)
    ttl = cfg.worker.heartbeat_ttl_s

    def beat(**changes: Any) -> None:
        nonlocal record
        ob = outbox.stats()
        record = replace(record, updated_at=time.time(), redis_errors=ob.redis_errors,
                         redis_reconnects=ob.reconnects, **changes)
        rec = record
        outbox.set_latest("heartbeat", lambda client: write_heartbeat(client, keys, rec, ttl))

    server = start_metrics(cfg, metrics_port, metrics, readiness)
    beat(state="starting")
    handle = None
    hub = None
    watcher_stop = threading.Event()
    watcher = None
    try:
        while handle is None and not stop.is_set():
            try:
                handle = connect(cfg.redis, redis_url)
            except RedisUnavailableError as exc:
                logger.warning("hub: %s; retrying", exc)
                beat(state="starting", last_error=redact(str(exc)))
                stop.wait(cfg.worker.redis_max_backoff_s)
        if handle is None:
            return EXIT_OK
        handles.append(handle)
        hub = Hub(handle.client, cfg, consumer_name=consumer)
        hub.latencies_ms = ObservedLatencies(metrics.hub_latency, hub.latencies_ms.maxlen)
        watcher = threading.Thread(target=_watch, args=(cfg, hub, metrics, readiness, beat, watcher_stop),
                                   name="hub-heartbeat", daemon=True)
        watcher.start()
        try:
            hub.start()
        except HubLockedError as exc:
            logger.error("%s", exc)
            beat(state="failed", last_error=str(exc))
            return EXIT_ERROR  # the other hub may go away: the supervisor retries with backoff
        logger.info("hub %s serving", hub.consumer)
        try:
            hub.run(stop)
        except HubLockLostError as exc:
            logger.error("%s", exc)
            beat(state="failed", last_error=str(exc))
            return EXIT_ERROR
        beat(state="stopped", messages=hub.stats.messages, dead_letters=hub.stats.dead_letters)
        return EXIT_OK
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")
        logger.exception("hub failed: %s", reason)
        beat(state="failed", last_error=reason)
        return EXIT_ERROR
    finally:
        watcher_stop.set()
        if watcher is not None:
            watcher.join(timeout=cfg.worker.heartbeat_interval_s + 1.0)
        outbox.close(cfg.worker.stop_timeout_s)
        for h in handles:
            try:
                h.close()
            except Exception as exc:  # pragma: no cover - best effort
                logger.debug("closing Redis: %s", exc)
        if server is not None:
            server.close()


def _watch(cfg: Config, hub: Any, metrics: ProcessMetrics, readiness: Readiness, beat: Any,
           stop: threading.Event) -> None:
    """Every heartbeat interval: metrics from the hub's counters; a heartbeat only if the hub made a step."""
    last_steps = 0
    while not stop.wait(cfg.worker.heartbeat_interval_s):
        st = hub.stats
        metrics.add_total(metrics.hub_messages, st.messages)
        metrics.add_total(metrics.hub_dead_letters, st.dead_letters)
        identities = len(hub.engine.identities)
        metrics.global_identities.set(identities)
        progressed = st.steps != last_steps
        last_steps = st.steps
        readiness.set(progressed, "ok" if progressed else "hub is not stepping (Redis down or starting)")
        metrics.ready.set(1 if progressed else 0)
        if progressed:
            beat(state="running", messages=st.messages, identities=identities, dead_letters=st.dead_letters,
                 last_error="")

