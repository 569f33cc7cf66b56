"""A camera's snapshot for the web console: the latest annotated frame as a small JPEG in one Redis hash
(``Keys.snapshot``), replaced at a low rate and expiring with a TTL, so a stopped camera's frame disappears.

The worker writes it (:func:`write_snapshot`, from :class:`tracker.pipeline.snapshot_sink.SnapshotSink`); the web
console and the tests read it (:func:`read_snapshot`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker.bus.schema import Keys

__all__ = ["Snapshot", "write_snapshot", "read_snapshot", "read_global_ids"]

_F_JPEG, _F_TS, _F_WALL_TS, _F_FRAME, _F_WIDTH, _F_HEIGHT = "jpeg", "ts", "wall_ts", "frame", "width", "height"


@dataclass(frozen=True)
class Snapshot:
    """One camera's published frame.

    Attributes:
        jpeg: the annotated frame, JPEG bytes (``width`` x ``height`` px).
        ts: the frame's camera time, seconds (Unix time live, media time in a replay).
        wall_ts: Unix time it was published, seconds (its age is ``time.time() - wall_ts``).
        frame: the frame's index in its camera.
    """

    jpeg: bytes
    ts: float
    wall_ts: float
    frame: int
    width: int
    height: int


def write_snapshot(client: Any, keys: Keys, camera: str, snap: Snapshot, ttl_s: float) -> None:
    """Replace ``camera``'s snapshot: one HSET and an EXPIRE of ``ttl_s`` (rounded up to whole ms) in one
    pipelined round trip. ``client``: a redis-py client."""
    key = keys.snapshot(camera)
    pipe = client.pipeline(transaction=False)
    pipe.hset(key, mapping={_F_JPEG: snap.jpeg, _F_TS: repr(float(snap.ts)), _F_WALL_TS: repr(float(snap.wall_ts)),
                            _F_FRAME: int(snap.frame), _F_WIDTH: int(snap.width), _F_HEIGHT: int(snap.height)})
    pipe.pexpire(key, max(1, math.ceil(ttl_s * 1000.0)))
    pipe.execute()


def read_snapshot(client: Any, keys: Keys, camera: str, with_jpeg: bool = True) -> Snapshot | None:
    """``camera``'s snapshot, or None when there is none (never written, expired, or not a complete record).
    ``with_jpeg`` False reads only the small fields (``jpeg`` is then empty bytes)."""
    names = [_F_TS, _F_WALL_TS, _F_FRAME, _F_WIDTH, _F_HEIGHT] + ([_F_JPEG] if with_jpeg else [])
    fields = dict(zip(names, client.hmget(keys.snapshot(camera), names)))
    if any(v is None for v in fields.values()) or (with_jpeg and not fields[_F_JPEG]):
        return None
    try:
        return Snapshot(jpeg=bytes(fields[_F_JPEG]) if with_jpeg else b"", ts=float(fields[_F_TS]),
                        wall_ts=float(fields[_F_WALL_TS]), frame=int(fields[_F_FRAME]),
                        width=int(fields[_F_WIDTH]), height=int(fields[_F_HEIGHT]))
    except ValueError:
        return None


def read_global_ids(client: Any, keys: Keys, camera: str, local_ids: Sequence[int]) -> dict[int, int]:
    """The hub's global ids of these local tracks of ``camera`` (one HMGET of ``cam:{camera}:l2g``); tracks the hub
    has not assigned yet are left out."""
    if not local_ids:
        return {}
    values = client.hmget(keys.camera_local_to_global(camera), [str(int(i)) for i in local_ids])
    out: dict[int, int] = {}
    for local_id, value in zip(local_ids, values):
        if value is None:
            continue
        try:
            out[int(local_id)] = int(value)
        except ValueError:
            continue
    return out
