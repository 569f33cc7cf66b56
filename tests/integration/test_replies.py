"""tracker.bus.replies over a real Redis: each helper turns the reply redis-py really returns into the plain typed
value (bytes members, dict[bytes, bytes] fields, (member, score) pairs, stream entries), and refuses a client that
decodes responses."""

from __future__ import annotations

import itertools
import os

import pytest
import redis

from tracker.bus.replies import (
    as_bytes,
    as_str,
    autoclaim_page,
    group_read,
    hash_fields,
    member_list,
    scored_members,
    stream_entries,
)

_prefixes = itertools.count()


@pytest.fixture()
def prefix() -> str:
    return f"replies{os.getpid()}x{next(_prefixes)}:"


def test_scalars_and_hashes(redis_handle, prefix: str) -> None:
    r = redis_handle.client
    r.set(prefix + "n", 42)
    assert as_str(r.get(prefix + "n")) == "42"
    assert as_bytes(r.get(prefix + "n")) == b"42"
    r.hset(prefix + "h", mapping={"a": "1", b"b\xff": b"\x00\x01"})
    assert hash_fields(r.hgetall(prefix + "h")) == {b"a": b"1", b"b\xff": b"\x00\x01"}
    assert hash_fields(r.hgetall(prefix + "missing")) == {}


def test_sorted_sets(redis_handle, prefix: str) -> None:
    r = redis_handle.client
    r.zadd(prefix + "z", {"7": 2.5, "3": 1.0, "9": 4.0})
    assert member_list(r.zrange(prefix + "z", 0, -1)) == [b"3", b"7", b"9"]
    assert member_list(r.zrevrange(prefix + "z", 0, 1)) == [b"9", b"7"]
    assert [int(m) for m in member_list(r.zrangebyscore(prefix + "z", 2, "+inf"))] == [7, 9]
    assert scored_members(r.zrangebyscore(prefix + "z", "-inf", 3, withscores=True)) == [(b"3", 1.0), (b"7", 2.5)]
    with pytest.raises(TypeError, match="withscores"):
        scored_members(r.zrange(prefix + "z", 0, -1))


def test_streams_and_groups(redis_handle, prefix: str) -> None:
    r = redis_handle.client
    stream = prefix + "s"
    ids = [r.xadd(stream, {b"k": str(i).encode(), b"bin": b"\x00\xff"}) for i in range(3)]
    assert stream_entries(r.xrange(stream)) == [(i, {b"k": str(n).encode(), b"bin": b"\x00\xff"})
                                                for n, i in enumerate(ids)]
    assert [m for m, _ in stream_entries(r.xrevrange(stream, count=2))] == [ids[2], ids[1]]
    r.xgroup_create(stream, "g", id="0")
    read = group_read(r.xreadgroup("g", "c1", {stream: ">"}, count=2))
    assert [(s, [m for m, _ in entries]) for s, entries in read] == [(stream, ids[:2])]
    assert read[0][1][0][1] == {b"k": b"0", b"bin": b"\x00\xff"}
    assert group_read(r.xreadgroup("g", "c1", {stream: ">"}, count=5, block=None)) != []
    assert group_read(r.xreadgroup("g", "c1", {stream: ">"}, count=5)) == []
    r.xdel(stream, ids[0])  # deleted while pending: Redis 6.2 reports it as nil, Redis 7 drops it
    cursor, claimed, n_deleted = autoclaim_page(r.xautoclaim(stream, "g", "c2", min_idle_time=0, count=10))
    assert cursor == "0-0"
    assert [m for m, _ in claimed] == ids[1:]
    assert claimed[0][1] == {b"k": b"1", b"bin": b"\x00\xff"}
    version = tuple(int(x) for x in r.info("server")["redis_version"].split(".")[:2])
    assert n_deleted == (1 if version < (7, 0) else 0)


def test_decoding_client_is_refused(redis_handle, prefix: str) -> None:
    text = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=redis_handle.client.connection_pool.connection_class,
        decode_responses=True, **{k: v for k, v in redis_handle.client.connection_pool.connection_kwargs.items()
                                  if k != "decode_responses"}))
    text.hset(prefix + "h", mapping={"a": "1"})
    with pytest.raises(TypeError, match="decode_responses"):
        hash_fields(text.hgetall(prefix + "h"))
    text.close()
