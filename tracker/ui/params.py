"""Parsing and checking the query parameters of the API (paging, time filters, camera names): pure functions that
raise :class:`ParamError` with a message saying what was wrong and what is allowed (answered as HTTP 400)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from tracker.bus.schema import validate_camera_id

__all__ = ["ParamError", "Page", "TimeWindow", "parse_page", "parse_time", "parse_window", "parse_camera"]


class ParamError(ValueError):
    """A bad query parameter; the message names it, the value and what is allowed."""


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


@dataclass(frozen=True)
class TimeWindow:
    """[since_ts, until_ts] in camera time (seconds); either end None = open."""

    since_ts: float | None
    until_ts: float | None


def parse_page(limit: int | None, offset: int | None, default_limit: int, max_limit: int) -> Page:
    """``limit`` (default ``default_limit``, 1..``max_limit``) and ``offset`` (default 0, >= 0)."""
    lim = default_limit if limit is None else int(limit)
    off = 0 if offset is None else int(offset)
    if not 1 <= lim <= max_limit:
        raise ParamError(f"limit = {lim} is out of range: allowed 1 <= limit <= {max_limit}")
    if off < 0:
        raise ParamError(f"offset = {off} is negative: allowed offset >= 0")
    return Page(lim, off)


def parse_time(name: str, text: str | None) -> float | None:
    """A time parameter: seconds of camera time (``12.5``, Unix time for live cameras, media time for replays) or
    an ISO-8601 date-time (``2026-12-03T16:20:00Z``; without a zone it is UTC), as float seconds. None/empty ->
    None."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ParamError(f"{name} = {text!r} is not a time: give seconds (e.g. 12.5) or an ISO-8601 date-time "
                             f"(e.g. 2026-12-03T16:20:00Z)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    if not math.isfinite(value):
        raise ParamError(f"{name} = {text!r} is not a finite number of seconds")
    return value


def parse_window(since: str | None, until: str | None) -> TimeWindow:
    """``since``/``until`` parsed with :func:`parse_time`; ``until`` must not be before ``since``."""
    lo, hi = parse_time("since", since), parse_time("until", until)
    if lo is not None and hi is not None and hi < lo:
        raise ParamError(f"until = {until} is before since = {since}: swap them")
    return TimeWindow(lo, hi)


def parse_camera(text: str | None) -> str | None:
    """A camera id filter (None/empty -> None)."""
    if text is None or not text.strip():
        return None
    try:
        return validate_camera_id(text.strip())
    except ValueError as exc:
        raise ParamError(f"camera: {exc}") from None
