"""An in-process hub session for replays and benchmarks: Redis (embedded or URL), the cameras' publishers and,
optionally, the hub itself, stepped by the caller.

The hub's lifecycle (connect, lock, discover, restore; step/drain; close) is :class:`tracker.hub.runner.HubRunner`'s,
the same one ``mctrack hub`` and ``mctrack run`` serve; a session adds the publishers, drives the steps and rides
out Redis outages as the live processes do:

* the publishers write through one :class:`tracker.bus.outbox.Outbox` (bounded: ``worker.outbox_max_messages`` per
  camera; above it the oldest messages are dropped, counted and logged; flushed in order on reconnect). Before each
  hub step the outbox is flushed, so with Redis up the hub sees exactly what was published, as before.
* a hub step that fails for want of Redis is skipped and retried with backoff; the first one that succeeds reloads
  the state and re-claims the messages left pending in the consumer group.
* :meth:`HubSession.open` waits up to ``worker.redis_outage_max_s`` for an unreachable Redis, and the end
  (:meth:`HubSession.drain`, :meth:`HubSession.final_local_to_global`) waits as long for an outage to end; after
  that they raise :class:`tracker.bus.connection.RedisUnavailableError` (``mctrack replay`` exits 2).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from tracker.bus.connection import RedisHandle, RedisUnavailableError
from tracker.bus.outage import OUTAGE_ERRORS, RedisOutage
from tracker.bus.outbox import Outbox
from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import Keys
from tracker.bus.write_behind import WriteBehindClient
from tracker.config import Config, ConfigError
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.hub.consumer import Hub
from tracker.hub.queries import local_to_global
from tracker.hub.runner import HubRunner

__all__ = ["HubSession", "SessionOutageReport"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_POLL_S = 0.05           # how often waits look at the outbox
_CLOSE_FLUSH_S = 5.0     # the outbox's last flush at close (drain() already waited for it)


@dataclass(frozen=True)
class SessionOutageReport:
    """What Redis outages did to a session.

    Attributes:
        outages: outages seen (by the hub or the publishers).
        down_s: how long the hub waited for Redis in all, in seconds (0 when only the publishers' buffer met the
            outage: it buffers without waiting).
        messages_dropped: frame messages dropped above the buffer bound (or undelivered at close).
        redis_errors: failed round trips of the publishers' outbox.
    """

    outages: int = 0
    down_s: float = 0.0
    messages_dropped: int = 0
    redis_errors: int = 0


class HubSession:
    """Owns a :class:`HubRunner` (its Redis connection and, if the session runs the hub, the started hub), the
    cameras' publishers and their outbox. Make one with :meth:`open`."""

    def __init__(self, cfg: Config, runner: HubRunner, publishers: dict[str, TrackletPublisher],
                 outbox: Outbox | None = None) -> None:
        self.cfg = cfg
        self.runner = runner
        self.publishers = publishers
        self.outbox = outbox
        w = cfg.worker
        self._outage = RedisOutage("replay hub", w.redis_initial_backoff_s, w.redis_max_backoff_s,
                                   cfg.source.reconnect_jitter)
        self._maps: dict[str, dict[int, int]] = {}

    @property
    def handle(self) -> RedisHandle:
        """The session's Redis connection."""
        return self.runner.handle

    @property
    def hub(self) -> Hub | None:
        """The in-process hub, or None when the session does not run one."""
        return self.runner.hub

    @classmethod
    def open(cls, cfg: Config, cameras: list[str], run_hub: bool = True, fresh: bool = True) -> HubSession:
        """Connect (an embedded Redis when ``redis.url`` is empty; a URL is retried for up to
        ``worker.redis_outage_max_s``) and set up publishers and the hub.

        ``fresh``: a replay needs camera streams of its own; when the key prefix already holds this replay's
        cameras (a shared Redis), refuse rather than mix two runs' local track ids.

        Raises:
            ConfigError: ``fresh`` and the key prefix already holds streams of these cameras, or Redis's URL is
                unusable.
            RedisUnavailableError: Redis cannot be reached within ``worker.redis_outage_max_s``.
            HubLockedError: ``run_hub`` and another hub is active for this key prefix.
        """
        runner = HubRunner(cfg)
        outbox: Outbox | None = None
        try:
            _connect_within(runner, cfg.worker.redis_outage_max_s)
            handle = runner.handle
            keys = Keys(cfg.redis.key_prefix)
            outage = RedisOutage("replay", cfg.worker.redis_initial_backoff_s, cfg.worker.redis_max_backoff_s)
            if fresh and not handle.embedded:
                used = _retry(outage, cfg.worker.redis_outage_max_s, handle.display_url,
                              lambda: [c for c in cameras if handle.client.exists(keys.updates(c))])
                if used:
                    raise ConfigError(
                        f"Redis {handle.display_url} already holds streams of camera(s) {used} under key prefix "
                        f"{cfg.redis.key_prefix!r}; a replay needs its own: pass --set redis.key_prefix=NEW "
                        f"(or use the embedded Redis: leave redis.url empty)")
            outbox = _session_outbox(cfg, handle, keys, cameras).start()
            writer = WriteBehindClient(outbox)
            publishers = {c: TrackletPublisher(writer, cfg, c) for c in cameras}
            if run_hub:
                _retry(outage, cfg.worker.redis_outage_max_s, handle.display_url, runner.start)
            log.info("hub session on %s: %d camera(s), hub %s", handle.display_url, len(cameras),
                     "running in-process" if run_hub else "not run here")
            return cls(cfg, runner, publishers, outbox)
        except BaseException:
            if outbox is not None:
                outbox.close(0.0)
            runner.close()
            raise

    def publish(self, camera: str, updates: list[TrackletUpdate], image_bgr: np.ndarray | None,
                frame_index: int, timestamp_s: float, late: Sequence[LateBox] = ()) -> None:
        """Queue one frame's message, with the boxes of earlier frames known only now (``late``) (never blocks on
        Redis; see the module docstring for the bound)."""
        self.publishers[camera].publish(updates, image_bgr, frame_index=frame_index, timestamp_s=timestamp_s,
                                        late=late)

    def step(self) -> int:
        """One hub step over what is published (0 when the session does not run the hub, or when Redis is
        unreachable: then the step is retried after a backoff delay, and nothing is lost meanwhile)."""
        hub = self.runner.hub
        if hub is None or not self._outage.due():
            return 0
        blocked = self._unflushed(self.cfg.redis.socket_timeout_s)
        if blocked:  # the publishers cannot reach Redis: neither can the hub; reload from Redis once it is back
            hub.lost_connection()
            self._outage.failed(RedisUnavailableError(blocked))
            return 0
        try:
            n = self.runner.step()
        except OUTAGE_ERRORS as exc:
            hub.lost_connection()
            self._outage.failed(exc)
            return 0
        self._outage.recovered("hub state reloaded, pending messages re-claimed from the consumer group")
        return n

    def drain(self) -> int:
        """Wait for the publishers' buffered messages to reach Redis, then process everything published and decide
        every deferred track (0 without a hub).

        Raises:
            RedisUnavailableError: an outage lasted longer than ``worker.redis_outage_max_s``.
        """
        self._wait_flushed()
        if self.runner.hub is None:
            return 0
        hub = self.runner.hub

        def drain_once() -> int:
            try:
                return self.runner.drain()
            except OUTAGE_ERRORS:
                hub.lost_connection()
                raise

        return _retry(self._outage, self.cfg.worker.redis_outage_max_s, self.handle.display_url, drain_once)

    def local_to_global(self, camera: str) -> dict[int, int]:
        """The hub's local -> global id map of ``camera`` (during an outage: the last one read)."""
        try:
            self._maps[camera] = local_to_global(self.handle.client, self.cfg, camera)
        except OUTAGE_ERRORS:
            pass
        return dict(self._maps.get(camera, {}))

    def final_local_to_global(self, camera: str) -> dict[int, int]:
        """The map of ``camera`` from Redis, waiting out an outage of up to ``worker.redis_outage_max_s``.

        Raises:
            RedisUnavailableError: the outage lasted longer.
        """
        return _retry(self._outage, self.cfg.worker.redis_outage_max_s, self.handle.display_url,
                      lambda: local_to_global(self.handle.client, self.cfg, camera))

    def outage_report(self) -> SessionOutageReport:
        """The outages seen so far and what they cost."""
        ob = self.outbox.stats() if self.outbox is not None else None
        outages = max(self._outage.outages, ob.reconnects if ob is not None else 0)
        return SessionOutageReport(outages=outages, down_s=round(self._outage.total_down_s, 3),
                                   messages_dropped=ob.dropped if ob is not None else 0,
                                   redis_errors=ob.redis_errors if ob is not None else 0)

    def close(self) -> None:
        """Flush the publishers (briefly; :meth:`drain` waits for it), release the hub's lock and close Redis (an
        embedded server stops)."""
        outbox, self.outbox = self.outbox, None
        try:
            if outbox is not None:
                outbox.close(_CLOSE_FLUSH_S)
        finally:
            self.runner.close()

    # ------------------------------------------------------------------------------------------------ helpers
    def _unflushed(self, timeout_s: float) -> str:
        """Wait up to ``timeout_s`` for the outbox to empty: '' when it did, else why not (at once when the
        outbox is in an outage)."""
        if self.outbox is None:
            return ""
        st = self.outbox.stats()
        if st.depth == 0:
            return ""
        if not st.connected and st.redis_errors:
            return f"the publishers cannot reach Redis ({st.last_error}); {st.depth} message(s) buffered"
        if self.outbox.wait_empty(timeout_s):
            return ""
        return f"{self.outbox.stats().depth} buffered message(s) not flushed within {timeout_s:g} s"

    def _wait_flushed(self) -> None:
        """Wait for the outbox to empty while it makes progress; give up when it has been unable to reach Redis
        for ``worker.redis_outage_max_s``."""
        if self.outbox is None:
            return
        limit_s = self.cfg.worker.redis_outage_max_s
        down_since: float | None = None
        while not self.outbox.wait_empty(_POLL_S):
            st = self.outbox.stats()
            if st.connected:
                down_since = None
                continue
            now = time.monotonic()
            down_since = now if down_since is None else down_since
            if now - down_since > limit_s:
                raise RedisUnavailableError(
                    f"Redis at {self.handle.display_url} stayed unreachable for more than "
                    f"worker.redis_outage_max_s = {limit_s:g} s ({st.last_error}); {st.depth} buffered frame "
                    f"message(s) were not delivered. Check the server, or raise worker.redis_outage_max_s")


def _session_outbox(cfg: Config, handle: RedisHandle, keys: Keys, cameras: list[str]) -> Outbox:
    """One outbox for every camera's stream, on the session's client (redis-py reconnects it), bounded at
    ``worker.outbox_max_messages`` per camera; (re)registers the cameras on every connect."""
    w = cfg.worker

    def register(client: Any) -> None:
        if cameras:
            client.sadd(keys.cameras(), *cameras)

    return Outbox(lambda: handle.client, max_messages=w.outbox_max_messages * max(1, len(cameras)),
                  batch=w.outbox_batch, initial_backoff_s=w.redis_initial_backoff_s,
                  max_backoff_s=w.redis_max_backoff_s, jitter=cfg.source.reconnect_jitter, name="replay",
                  on_connect=register)


def _connect_within(runner: HubRunner, limit_s: float) -> None:
    """Connect, retrying an unreachable Redis URL (every ``worker.redis_max_backoff_s``) for up to ``limit_s``.

    Raises:
        RedisUnavailableError: still unreachable after ``limit_s`` (the message says which setting to change).
    """
    give_up = threading.Event()
    timer = threading.Timer(limit_s, give_up.set)
    timer.daemon = True
    last: list[str] = []
    timer.start()
    try:
        if limit_s <= 0:
            runner.connect()
        elif runner.connect(retry_until=give_up, on_retry=last.append) is None:
            raise RedisUnavailableError(f"{last[-1] if last else 'Redis unreachable'} (gave up after "
                                        f"worker.redis_outage_max_s = {limit_s:g} s)")
    finally:
        timer.cancel()


def _retry(outage: RedisOutage, limit_s: float, display_url: str, action: Callable[[], _T]) -> _T:
    """``action()``, retried with ``outage``'s backoff while Redis is unreachable, for up to ``limit_s`` of one
    outage.

    Raises:
        RedisUnavailableError: the outage lasted longer than ``limit_s``.
    """
    while True:
        try:
            result = action()
        except OUTAGE_ERRORS as exc:
            delay_s = outage.failed(exc)
            if outage.down_s + delay_s > limit_s:
                raise RedisUnavailableError(
                    f"Redis at {display_url} stayed unreachable for more than worker.redis_outage_max_s = "
                    f"{limit_s:g} s ({outage.last_error}). Check the server, or raise worker.redis_outage_max_s"
                ) from None
            time.sleep(delay_s)
            continue
        outage.recovered()
        return result
