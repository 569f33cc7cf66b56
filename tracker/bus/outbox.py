"""A worker's outbox: every Redis write of a live process goes through one background thread that survives outages.

* Stream messages (:meth:`Outbox.put`) wait in a bounded in-memory queue and are sent in order, in batches of
  ``worker.outbox_batch`` per round trip. While Redis is unreachable the thread retries with exponential backoff
  (``worker.redis_initial_backoff_s`` doubling to ``worker.redis_max_backoff_s``, with jitter); nothing is lost
  below ``worker.outbox_max_messages``. Above it the oldest message is dropped, counted and logged.
* "Latest value" writes (:meth:`Outbox.set_latest`, e.g. the heartbeat) keep only the newest value per tag.
* Exactly-once on the stream: each message gets an explicit, increasing stream id (``<ms>-<seq>``, wall clock) the
  first time it is sent, and keeps it for every retry. After a reconnect the stream's ``last-generated-id`` tells
  which of the messages in flight Redis already has (a reply lost with the connection): those are not sent again.
  This assumes one writer per camera stream (one worker per camera).

The caller's thread never blocks on Redis: :meth:`put` only appends to the queue.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from streams.backoff import backoff_delay_s
from streams.redact import redact

__all__ = ["Outbox", "OutboxStats", "format_stream_id", "parse_stream_id"]

logger = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0          # rate limit of repeated warnings (drops, outage)
_IDLE_WAIT_S = 0.05           # the thread wakes at least this often when idle (latest-value writes, stop)
_SEQ_LIMIT = 2**63 - 1
_MS_PER_S = 1000.0
_DUPLICATE_ID_ERROR = "equal or smaller"


def parse_stream_id(value: bytes | str) -> tuple[int, int]:
    """``b"1700000000000-3"`` -> ``(1700000000000, 3)``."""
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_stream_id(sid: tuple[int, int]) -> str:
    return f"{sid[0]}-{sid[1]}"


@dataclass(frozen=True)
class OutboxStats:
    """Counters of one outbox (totals since it was made, except ``depth`` and ``connected``)."""

    depth: int = 0                 # messages waiting (not yet confirmed by Redis)
    put: int = 0                   # messages handed to put()
    sent: int = 0                  # messages confirmed by Redis
    dropped: int = 0               # messages dropped: buffer full, or still queued at close
    duplicates_skipped: int = 0    # in-flight messages Redis already had after a reconnect
    rejected: int = 0              # messages Redis refused (e.g. out of memory, wrong key type); logged
    redis_errors: int = 0          # failed round trips
    reconnects: int = 0            # outages recovered from
    connected: bool = False
    last_error: str = ""


@dataclass
class _Pending:
    seq: int
    stream: str
    fields: dict[bytes, bytes]
    maxlen: int | None
    sid: tuple[int, int] | None = None


class Outbox:
    """Background Redis writer with a bounded buffer (see the module docstring).

    Args:
        client_factory: returns a connected redis-py client; called until it succeeds (it may raise
            ``ConnectionError``/``OSError``/redis connection errors while Redis is down).
        max_messages: buffer bound (``worker.outbox_max_messages``).
        batch: messages per round trip (``worker.outbox_batch``).
        initial_backoff_s, max_backoff_s, jitter: retry delays while Redis is unreachable.
        name: shown in log lines (the camera id).
        on_connect: called with the client after every (re)connect before anything is sent (e.g. register the
            camera); its failure counts as a failed connect.
        rng: random generator for the jitter.
    """

    def __init__(self, client_factory: Callable[[], Any], *, max_messages: int, batch: int,
                 initial_backoff_s: float, max_backoff_s: float, jitter: float = 0.0, name: str = "",
                 on_connect: Callable[[Any], None] | None = None, rng: random.Random | None = None) -> None:
        if max_messages < 1 or batch < 1:
            raise ValueError(f"max_messages ({max_messages}) and batch ({batch}) must be >= 1")
        self._factory = client_factory
        self._max = int(max_messages)
        self._batch = int(batch)
        self._initial_s, self._max_s, self._jitter = initial_backoff_s, max_backoff_s, jitter
        self._name = name
        self._on_connect = on_connect
        self._rng = rng or random.Random()
        self._cv = threading.Condition()
        # guarded by self._cv
        self._queue: collections.deque[_Pending] = collections.deque()
        self._latest: dict[str, Callable[[Any], None]] = {}
        self._seq = 0
        self._put = self._sent = self._dropped = self._dups = self._rejected = 0
        self._errors = self._reconnects = 0
        self._connected = False
        self._last_error = ""
        self._stopping = False
        self._deadline = float("inf")
        # owned by the thread
        self._client: Any = None
        self._ever_connected = False
        self._attempt = 0
        self._last_ids: dict[str, tuple[int, int]] = {}   # stream -> highest id known to be in Redis or assigned
        self._known_tops: set[str] = set()                # streams whose last id was read since the last connect
        self._last_warn_drop = -_WARN_EVERY_S
        self._last_warn_down = -_WARN_EVERY_S
        self._thread = threading.Thread(target=self._main, name=f"outbox-{name or 'redis'}", daemon=True)
        self._started = False

    # ------------------------------------------------------------------------------------------------ caller side
    def start(self) -> Outbox:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def put(self, stream: str, fields: dict[bytes, bytes], maxlen: int | None = None) -> None:
        """Queue one stream message (XADD ``stream`` with ``fields``, ``MAXLEN ~ maxlen``); never blocks on Redis."""
        dropped_now = 0
        with self._cv:
            self._seq += 1
            self._queue.append(_Pending(self._seq, stream, dict(fields), maxlen))
            self._put += 1
            while len(self._queue) > self._max:
                self._queue.popleft()
                self._dropped += 1
                dropped_now += 1
            total_dropped = self._dropped
            self._cv.notify_all()
        if dropped_now:
            now = time.monotonic()
            if now - self._last_warn_drop >= _WARN_EVERY_S:
                self._last_warn_drop = now
                logger.warning("%s: Redis outbox full (worker.outbox_max_messages = %d): dropped the oldest "
                               "message; %d dropped so far", self._name, self._max, total_dropped)

    def set_latest(self, tag: str, write: Callable[[Any], None]) -> bool:
        """Run ``write(client)`` soon; a newer call with the same tag replaces one not yet run (e.g. heartbeats).
        Returns True when it replaced one."""
        with self._cv:
            replaced = tag in self._latest
            self._latest[tag] = write
            self._cv.notify_all()
        return replaced

    def stats(self) -> OutboxStats:
        with self._cv:
            return OutboxStats(len(self._queue), self._put, self._sent, self._dropped, self._dups, self._rejected,
                               self._errors, self._reconnects, self._connected, self._last_error)

    def wait_empty(self, timeout_s: float) -> bool:
        """Wait until every queued message is confirmed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, _IDLE_WAIT_S))
        return True

    def close(self, timeout_s: float) -> int:
        """Flush for up to ``timeout_s``, stop the thread; returns messages never delivered (counted as dropped)."""
        with self._cv:
            self._stopping = True
            self._deadline = time.monotonic() + timeout_s
            self._cv.notify_all()
        if self._started:
            self._thread.join(timeout_s + 2 * _IDLE_WAIT_S + 1.0)
        with self._cv:
            left = len(self._queue)
            self._dropped += left
            self._queue.clear()
        if left:
            logger.warning("%s: %d message(s) still buffered at shutdown were not delivered to Redis (counted as "
                           "dropped)", self._name, left)
        return left

    # ------------------------------------------------------------------------------------------------ thread
    def _main(self) -> None:
        while True:
            with self._cv:
                if self._stopping and ((not self._queue and not self._latest) or time.monotonic() >= self._deadline):
                    return
                if not self._queue and not self._latest and not self._stopping:
                    self._cv.wait(_IDLE_WAIT_S)
                    continue
            if self._client is None or not self._connected_now():
                if not self._connect():
                    self._sleep_backoff()
                    continue
            try:
                self._send_latest()
                self._send_batch()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._on_error(exc)
                self._sleep_backoff()
            except Exception as exc:  # a bug must not kill the writer: log it and go on after a pause
                logger.exception("%s: unexpected error in the Redis writer: %s", self._name, exc)
                self._on_error(exc)
                self._sleep_backoff()

    def _connected_now(self) -> bool:
        with self._cv:
            return self._connected

    def _connect(self) -> bool:
        try:
            if self._client is None:
                self._client = self._factory()
            else:
                self._client.ping()
            if self._on_connect is not None:
                self._on_connect(self._client)
            self._refresh_last_ids()
        except Exception as exc:  # connection errors, and anything the factory raises for a server that is down
            self._on_error(exc)
            return False
        with self._cv:
            self._connected = True
            if self._ever_connected:
                self._reconnects += 1
            pending = len(self._queue)
        if self._ever_connected:
            logger.info("%s: Redis is reachable again; flushing %d buffered message(s)", self._name, pending)
        self._ever_connected = True
        self._attempt = 0
        return True

    def _on_error(self, exc: BaseException) -> None:
        msg = redact(f"{type(exc).__name__}: {exc}")
        with self._cv:
            self._errors += 1
            was_connected = self._connected
            self._connected = False
            self._last_error = msg
            pending = len(self._queue)
        now = time.monotonic()
        if was_connected or now - self._last_warn_down >= _WARN_EVERY_S:
            self._last_warn_down = now
            logger.warning("%s: Redis unreachable (%s); %d message(s) buffered, retrying with backoff",
                           self._name, msg, pending)

    def _sleep_backoff(self) -> None:
        delay = backoff_delay_s(self._attempt, self._initial_s, self._max_s, self._jitter, self._rng)
        self._attempt += 1
        with self._cv:
            if self._stopping:
                delay = min(delay, max(0.0, self._deadline - time.monotonic()))
            self._cv.wait(delay)

    def _fetch_tops(self, streams: set[str]) -> dict[str, tuple[int, int] | None]:
        """Each stream's ``last-generated-id`` (None: no such stream, yet or lost with the server's data)."""
        tops: dict[str, tuple[int, int] | None] = {}
        for stream in sorted(streams):
            try:
                info = self._client.xinfo_stream(stream)
                tops[stream] = parse_stream_id(info["last-generated-id"])
            except redis.exceptions.ResponseError:
                tops[stream] = None
        with self._cv:
            for stream, top in tops.items():
                if top is None:
                    self._last_ids.pop(stream, None)
                else:
                    self._last_ids[stream] = top
        self._known_tops.update(tops)
        return tops

    def _refresh_last_ids(self) -> None:
        """After a (re)connect: learn each pending stream's last id and forget messages Redis already has."""
        self._known_tops = set()
        with self._cv:
            streams = {p.stream for p in self._queue}
        tops = self._fetch_tops(streams)
        with self._cv:
            kept: collections.deque[_Pending] = collections.deque()
            for p in self._queue:
                top = tops.get(p.stream)
                if p.sid is not None and top is not None and p.sid <= top:
                    self._dups += 1
                    self._sent += 1
                    continue
                p.sid = None  # re-numbered when sent (ids must stay above what the stream has)
                kept.append(p)
            self._queue = kept
            self._cv.notify_all()

    def _next_id(self, stream: str) -> tuple[int, int]:
        now_ms = int(time.time() * _MS_PER_S)
        last = self._last_ids.get(stream)
        if last is None or now_ms > last[0]:
            sid = (now_ms, 0)
        elif last[1] < _SEQ_LIMIT:
            sid = (last[0], last[1] + 1)
        else:
            sid = (last[0] + 1, 0)
        self._last_ids[stream] = sid
        return sid

    def _send_latest(self) -> None:
        with self._cv:
            latest, self._latest = self._latest, {}
        try:
            for write in latest.values():
                write(self._client)
        except BaseException:
            with self._cv:  # keep what was not written unless a newer value came meanwhile
                for tag, write in latest.items():
                    self._latest.setdefault(tag, write)
            raise

    def _send_batch(self) -> None:
        with self._cv:
            unknown = {p.stream for p in list(self._queue)[: self._batch] if p.stream not in self._known_tops}
        if unknown:  # ids must stay above what the stream has (a previous process, another clock)
            self._fetch_tops(unknown)
        with self._cv:
            batch = list(self._queue)[: self._batch]
            for p in batch:
                if p.sid is None:
                    p.sid = self._next_id(p.stream)
        if not batch:
            return
        pipe = self._client.pipeline(transaction=False)
        for p in batch:
            assert p.sid is not None
            pipe.xadd(p.stream, p.fields, id=format_stream_id(p.sid), maxlen=p.maxlen,
                      approximate=p.maxlen is not None)
        results = pipe.execute(raise_on_error=False)
        done_seq = batch[-1].seq
        sent = dups = rejected = 0
        for p, res in zip(batch, results):
            if isinstance(res, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
                raise res
            if isinstance(res, redis.exceptions.ResponseError):
                if _DUPLICATE_ID_ERROR in str(res):
                    dups += 1  # Redis already has it (sent before a reply was lost)
                    continue
                rejected += 1
                logger.error("%s: Redis refused a message for %s: %s (message dropped)", self._name, p.stream,
                             redact(str(res)))
                continue
            if isinstance(res, Exception):
                raise res
            sent += 1
        with self._cv:
            while self._queue and self._queue[0].seq <= done_seq:
                self._queue.popleft()
            self._sent += sent + dups
            self._dups += dups
            self._rejected += rejected
            self._cv.notify_all()
