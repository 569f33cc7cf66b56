"""RedisOutage: one warning when an outage starts, one info line when it ends, backoff doubling to its cap."""

from __future__ import annotations

import logging

import pytest
import redis

from tracker.bus.outage import OUTAGE_ERRORS, RedisOutage


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_an_outage_is_logged_once_at_each_end_and_retried_with_capped_backoff(caplog: pytest.LogCaptureFixture):
    clock = _Clock()
    outage = RedisOutage("hub x", 0.2, 1.0, clock=clock)
    caplog.set_level(logging.DEBUG, logger="tracker.bus.outage")
    outage.recovered()  # no outage: nothing to end
    assert not outage.down and outage.due() and outage.outages == 0
    delays = []
    for _ in range(5):
        delays.append(outage.failed(redis.exceptions.ConnectionError("Error 111 connecting to redis://:pw@h:1")))
        assert not outage.due()
        clock.now_s += delays[-1]
        assert outage.due()
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    assert outage.down and outage.down_s == pytest.approx(sum(delays)) and outage.outages == 1
    outage.recovered("resumed")
    assert not outage.down and outage.down_s == 0.0
    assert outage.total_down_s == pytest.approx(3.4) and outage.longest_down_s == pytest.approx(3.4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "hub x: Redis unreachable" in warnings[0] and "pw" not in warnings[0]
    assert infos == ["hub x: Redis reachable again after an outage of 3.4 s; resumed"]
    assert outage.failed(TimeoutError()) == pytest.approx(0.2)  # a new outage starts from the first delay
    assert outage.outages == 2


def test_outage_errors_cover_what_a_restarting_server_raises():
    from tracker.bus.connection import RedisUnavailableError

    for exc in (redis.exceptions.ConnectionError(), redis.exceptions.TimeoutError(),
                redis.exceptions.BusyLoadingError(), RedisUnavailableError("down")):
        assert isinstance(exc, OUTAGE_ERRORS)
    assert not isinstance(redis.exceptions.ResponseError("WRONGTYPE"), OUTAGE_ERRORS)
