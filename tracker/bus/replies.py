"""Typed views of redis-py replies, narrowed once where they are read.

redis-py types its replies for both kinds of client (``bytes | str``, wide unions for RESP2/RESP3 shapes). mctrack
only uses bytes clients (``decode_responses`` left False: frame messages carry binary embeddings and images), so
these helpers check that at run time and hand back the plain types the hub and the queries work with: ``bytes``
members, ``dict[bytes, bytes]`` hashes and stream fields, ``(member, score)`` pairs.

The helpers raise :class:`TypeError` when a reply has another shape (str members or fields from a client created
with ``decode_responses=True``, RESP3 replies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from redis.typing import StreamRangeResponse, XReadGroupResponse, XReadResponse, ZSetRangeResponse

__all__ = [
    "StreamMessage",
    "as_bytes",
    "as_str",
    "hash_fields",
    "member_list",
    "scored_members",
    "stream_entries",
    "group_read",
    "stream_read",
    "autoclaim_page",
]

StreamMessage: TypeAlias = tuple[bytes, dict[bytes, bytes]]
"""A stream entry: (message id, fields)."""

_BYTES_CLIENT_HINT = "mctrack needs a redis-py client that returns bytes (do not pass decode_responses=True)"


def as_bytes(reply: object) -> bytes:
    """A bytes reply (a member, a field, a value or a message id) as bytes."""
    if isinstance(reply, bytes):
        return reply
    raise TypeError(f"expected a bytes reply from Redis, got {type(reply).__name__} {reply!r}: {_BYTES_CLIENT_HINT}")


def as_str(reply: bytes | str) -> str:
    """A text reply (camera id, message id, lock holder, ...) as str (bytes are UTF-8 decoded)."""
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, str):
        return reply
    raise TypeError(f"expected a bytes or str reply from Redis, got {type(reply).__name__} {reply!r}")


def hash_fields(reply: Mapping[bytes | str, bytes | str]) -> dict[bytes, bytes]:
    """An HGETALL reply (or a stream entry's fields) as ``dict[bytes, bytes]``."""
    return {as_bytes(k): as_bytes(v) for k, v in reply.items()}


def member_list(reply: ZSetRangeResponse | Iterable[bytes | str]) -> list[bytes]:
    """The members of a ZRANGE/ZRANGEBYSCORE/ZREVRANGE (without scores) or SMEMBERS reply, in reply order."""
    return [as_bytes(m) for m in reply]


def scored_members(reply: ZSetRangeResponse) -> list[tuple[bytes, float]]:
    """The (member, score) pairs of a ZRANGE/ZRANGEBYSCORE ``withscores=True`` reply, in reply order."""
    out: list[tuple[bytes, float]] = []
    for pair in reply:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"expected (member, score) pairs (withscores=True), got {pair!r}")
        member, score = pair
        if not isinstance(score, (int, float)):
            raise TypeError(f"expected a numeric score for member {member!r}, got {type(score).__name__}")
        out.append((as_bytes(member), float(score)))
    return out


def _entries(reply: Iterable[Any], what: str) -> tuple[list[StreamMessage], int]:
    """(id, fields) entries in reply order, and how many came back as nil (``(None, None)`` from redis-py: an
    entry deleted while pending, reported so by XAUTOCLAIM and history XREADGROUP on Redis 6.2)."""
    out: list[StreamMessage] = []
    n_deleted = 0
    for entry in reply:
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise TypeError(f"expected (message id, fields) stream entries in a {what} reply, got {entry!r}")
        msg_id, fields = entry
        if msg_id is None and fields is None:
            n_deleted += 1
            continue
        if fields is None:
            raise TypeError(f"stream entry {msg_id!r} of a {what} reply has no fields")
        out.append((as_bytes(msg_id), hash_fields(fields)))
    return out, n_deleted


def _live_entries(reply: Iterable[Any], what: str) -> list[StreamMessage]:
    entries, n_deleted = _entries(reply, what)
    if n_deleted:
        raise TypeError(f"a {what} reply holds {n_deleted} deleted (nil) entries, which it never returns for the "
                        f"reads mctrack makes (use autoclaim_page for XAUTOCLAIM)")
    return entries


def stream_entries(reply: StreamRangeResponse | None) -> list[StreamMessage]:
    """The entries of an XRANGE/XREVRANGE reply (None: no entries), in reply order."""
    return _live_entries(reply or [], "XRANGE/XREVRANGE")


def _per_stream(reply: object, what: str) -> list[tuple[str, list[StreamMessage]]]:
    if reply is None:
        return []
    if not isinstance(reply, list):
        raise TypeError(f"expected a RESP2 {what} reply (a list of [stream, entries]), got "
                        f"{type(reply).__name__}: mctrack's Redis connections use RESP2 (the default protocol)")
    out: list[tuple[str, list[StreamMessage]]] = []
    for item in reply:
        if len(item) != 2:
            raise TypeError(f"expected [stream, entries] in an {what} reply, got {item!r}")
        stream, entries = item
        out.append((as_str(stream), _live_entries(entries, what)))
    return out


def group_read(reply: XReadGroupResponse | None) -> list[tuple[str, list[StreamMessage]]]:
    """An XREADGROUP ``>`` reply (RESP2: ``[[stream, entries], ...]``; None: nothing arrived within the block
    time) as (stream name, entries) per stream, in reply order."""
    return _per_stream(reply, "XREADGROUP")


def stream_read(reply: XReadResponse | None) -> list[tuple[str, list[StreamMessage]]]:
    """An XREAD reply: the same shape as XREADGROUP's (RESP2 ``[[stream, entries], ...]``; None: nothing arrived
    within the block time), as (stream name, entries) per stream."""
    return _per_stream(reply, "XREAD")


def autoclaim_page(reply: list[Any]) -> tuple[str, list[StreamMessage], int]:
    """An XAUTOCLAIM reply as (next cursor, claimed entries, number of claimed entries that were deleted while
    pending); the cursor is ``"0-0"`` once the scan is done.

    A pending entry deleted from the stream (trimmed by MAXLEN before it was acknowledged) comes back from Redis
    6.2 as nil, without its id: it can be neither processed nor acknowledged from this reply and stays pending.
    Redis 7 drops such entries from the pending list itself and lists their ids in a third element, not needed
    here."""
    if len(reply) < 2:
        raise TypeError(f"expected [cursor, entries, ...] from XAUTOCLAIM, got {reply!r}")
    entries, n_deleted = _entries(reply[1], "XAUTOCLAIM")
    return as_str(reply[0]), entries, n_deleted
