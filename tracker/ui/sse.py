"""The live identity events feed: the hub's ``events`` stream as server-sent events, resumable with
``Last-Event-ID`` (the Redis stream id of the last event the client got)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Generator

import redis

from tracker.bus.replies import stream_entries, stream_read
from tracker.bus.schema import Keys

__all__ = ["event_stream", "valid_event_id", "format_event"]

logger = logging.getLogger(__name__)

_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
_BLOCK_MS = 1000  # one XREAD wait; short, so a closed client or a stop is noticed quickly
RETRY_MS = 3000   # how long a browser waits before reconnecting after a dropped stream


def valid_event_id(text: str | None) -> str | None:
    """``text`` when it is a Redis stream id (``<ms>-<seq>``), else None (the client then starts afresh)."""
    text = (text or "").strip()
    return text if _STREAM_ID.fullmatch(text) else None


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def format_event(event_id: str, fields: dict[str, str]) -> str:
    """One SSE message: ``id:``, ``event: identity`` and the event's fields as one JSON ``data:`` line."""
    return f"id: {event_id}\nevent: identity\ndata: {json.dumps(fields, separators=(',', ':'))}\n\n"


def event_stream(client: redis.Redis, keys: Keys, last_event_id: str | None, backlog: int, keepalive_s: float,
                 stop: threading.Event | None = None) -> Generator[str, None, None]:
    """SSE text chunks: after ``last_event_id`` when given (resume), else the newest ``backlog`` events first;
    then every new event as it arrives, with a comment line every ``keepalive_s`` while nothing happens. Ends
    when ``stop`` is set. A Redis error is logged and retried (the client sees only keep-alives meanwhile). An
    empty chunk means "nothing yet" (at least one a second), so a caller can notice a closed client promptly."""
    stream = keys.events()
    yield f"retry: {RETRY_MS}\n\n"
    cursor = valid_event_id(last_event_id)
    if cursor is None:
        newest = stream_entries(client.xrevrange(stream, count=max(1, backlog)))
        if backlog > 0:
            for msg_id, fields in reversed(newest):
                yield format_event(_s(msg_id), {_s(k): _s(v) for k, v in fields.items()})
        cursor = _s(newest[0][0]) if newest else "0-0"
    last_sent = time.monotonic()
    while stop is None or not stop.is_set():
        try:
            reply = client.xread({stream: cursor}, count=100, block=_BLOCK_MS)
        except redis.RedisError as exc:
            logger.warning("live events: reading %s failed (%s); retrying", stream, exc)
            time.sleep(_BLOCK_MS / 1000.0)
            reply = None
        sent = False
        for _, entries in stream_read(reply):
            for msg_id, fields in entries:
                cursor = _s(msg_id)
                sent = True
                yield format_event(cursor, {_s(k): _s(v) for k, v in fields.items()})
        now = time.monotonic()
        if sent:
            last_sent = now
        elif now - last_sent >= keepalive_s:
            last_sent = now
            yield ": keep-alive\n\n"
        else:
            yield ""  # nothing to send: hands control back at least every second (the caller skips it)
