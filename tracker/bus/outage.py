"""One Redis outage at a time, as a process that keeps going through it sees it: the first failure starts it (one
warning), the first success after it ends it (one info line with its length); in between the caller retries after
:meth:`RedisOutage.failed`'s delay (exponential backoff with jitter) and may give up once :attr:`RedisOutage.down_s`
passes its own limit.

Used by the served hub (:meth:`tracker.hub.consumer.Hub.run`) and the replay's in-process hub
(:class:`tracker.hub.session.HubSession`); the workers' writes have the same behaviour in
:class:`tracker.bus.outbox.Outbox`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import redis

from streams.backoff import backoff_delay_s
from streams.redact import redact

__all__ = ["OUTAGE_ERRORS", "RedisOutage"]

logger = logging.getLogger(__name__)

# What "Redis is unreachable" looks like: redis-py's connection and timeout errors (a server still loading its data
# after a restart raises BusyLoadingError, a ConnectionError), and the built-in ConnectionError
# (:class:`tracker.bus.connection.RedisUnavailableError` is one).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                              ConnectionError)


class RedisOutage:
    """Outage bookkeeping for one Redis user (see the module docstring).

    Args:
        name: who is affected, in the log lines (e.g. ``"hub"``).
        initial_backoff_s, max_backoff_s: first retry delay, doubling up to the longest (``worker.redis_*``).
        jitter: relative random spread of each delay (``source.reconnect_jitter``).
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(self, name: str, initial_backoff_s: float, max_backoff_s: float, jitter: float = 0.0,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._initial_s, self._max_s, self._jitter = initial_backoff_s, max_backoff_s, jitter
        self._rng = rng or random.Random()
        self._clock = clock
        self._since: float | None = None
        self._attempt = 0
        self._next_try = -float("inf")
        self.outages = 0             # outages that started (the current one included)
        self.total_down_s = 0.0      # length of the outages that ended
        self.longest_down_s = 0.0    # longest outage that ended
        self.last_error = ""

    @property
    def down(self) -> bool:
        """True between a failure and the next success."""
        return self._since is not None

    @property
    def down_s(self) -> float:
        """How long the current outage has lasted (0 when Redis is up)."""
        return 0.0 if self._since is None else self._clock() - self._since

    def due(self) -> bool:
        """Whether the backoff delay since the last failure has passed (always True when Redis is up)."""
        return self._clock() >= self._next_try

    def failed(self, exc: BaseException) -> float:
        """Record a failed attempt; returns the delay in seconds before the next one. The first failure of an
        outage logs a warning with the (redacted) reason; later ones log at debug level."""
        now = self._clock()
        self.last_error = redact(f"{type(exc).__name__}: {exc}")
        if self._since is None:
            self._since = now
            self.outages += 1
            logger.warning("%s: Redis unreachable (%s); retrying with backoff (up to %.1f s between attempts)",
                           self.name, self.last_error, self._max_s)
        else:
            logger.debug("%s: Redis still unreachable after %.1f s (%s)", self.name, now - self._since,
                         self.last_error)
        delay = backoff_delay_s(self._attempt, self._initial_s, self._max_s, self._jitter, self._rng)
        self._attempt += 1
        self._next_try = now + delay
        return delay

    def recovered(self, detail: str = "") -> None:
        """Record a successful attempt; ends an outage with one info line (its length, and ``detail``)."""
        if self._since is None:
            return
        down_s = self._clock() - self._since
        self._since = None
        self._attempt = 0
        self._next_try = -float("inf")
        self.total_down_s += down_s
        self.longest_down_s = max(self.longest_down_s, down_s)
        logger.info("%s: Redis reachable again after an outage of %.1f s%s", self.name, down_s,
                    f"; {detail}" if detail else "")
