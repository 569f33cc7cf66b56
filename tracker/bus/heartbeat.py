"""Heartbeats of live processes (camera workers, the hub process) in Redis, and reading them back for status.

Key schema (same prefix convention as :mod:`tracker.bus.schema`: ``{prefix}:v1:...``):

* ``{prefix}:v1:hb:{kind}:{name}`` -- string, JSON of the latest :class:`HeartbeatRecord`, with a TTL of
  ``worker.heartbeat_ttl_s``: while it exists the process is alive and making progress.
* ``{prefix}:v1:hb:last`` -- hash ``{kind}:{name}`` -> the same JSON without a TTL, so ``mctrack status`` can show
  a dead process's last state and error.
* ``{prefix}:v1:supervisor`` -- hash ``{kind}:{name}`` -> JSON of the supervisor's view of a child (pid, restarts,
  state running/backoff/failed/stopped), written by ``mctrack run``.

``kind`` is ``worker`` (one per camera; ``name`` = camera id) or ``hub`` (``name`` = ``hub``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from streams.redact import redact
from tracker.bus.schema import SCHEMA_VERSION

__all__ = [
    "HeartbeatKeys",
    "HeartbeatRecord",
    "STATES",
    "KIND_WORKER",
    "KIND_HUB",
    "encode_record",
    "decode_record",
    "write_heartbeat",
    "read_heartbeats",
    "ProcessView",
]

logger = logging.getLogger(__name__)

KIND_WORKER = "worker"
KIND_HUB = "hub"
HUB_NAME = "hub"

#: States a process reports. starting: loading models / connecting; running: processing frames; source-down: the
#: camera is unreachable and being reconnected; stopping/stopped: clean shutdown; failed: gave up (see last_error).
STATES = ("starting", "running", "source-down", "stopping", "stopped", "failed")

MAX_ERROR_CHARS = 500  # last_error is cut to this length (it is shown in a table)


class HeartbeatKeys:
    """Key names of heartbeats and the supervisor's view for one key prefix."""

    def __init__(self, prefix: str) -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"redis.key_prefix {prefix!r} must be non-empty and without whitespace")
        self.root = f"{prefix}:v{SCHEMA_VERSION}"

    def alive(self, kind: str, name: str) -> str:
        """string (JSON, with TTL): the latest heartbeat of one process."""
        return f"{self.root}:hb:{kind}:{name}"

    def last(self) -> str:
        """hash: ``kind:name`` -> latest heartbeat JSON (no TTL)."""
        return f"{self.root}:hb:last"

    def supervisor(self) -> str:
        """hash: ``kind:name`` -> supervisor's view of that child (JSON)."""
        return f"{self.root}:supervisor"


@dataclass
class HeartbeatRecord:
    """What one process reports about itself.

    Rates are frames per second over the last heartbeat interval; counters are totals since the process started.
    """

    kind: str
    name: str
    state: str = "starting"
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    source: str = ""                # redacted source (workers)
    fps_in: float = 0.0             # frames decoded from the source
    fps_out: float = 0.0            # frames through the pipeline
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0         # newest-frame policy: decoded but replaced before processing
    source_reconnects: int = 0
    active_tracks: int = 0
    outbox_depth: int = 0           # messages waiting for Redis
    outbox_dropped: int = 0         # messages dropped because the buffer was full
    messages_put: int = 0           # frame messages handed to the outbox (worker)
    messages_sent: int = 0          # frame messages confirmed by Redis (worker)
    updates_put: int = 0            # tracklet updates in those messages (worker)
    redis_errors: int = 0
    redis_reconnects: int = 0
    messages: int = 0               # hub: stream messages handled
    identities: int = 0             # hub: global identities in its gallery
    dead_letters: int = 0           # hub
    last_error: str = ""

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.updated_at


_FIELDS = {f.name for f in fields(HeartbeatRecord)}


def encode_record(rec: HeartbeatRecord) -> str:
    data = asdict(rec)
    data["last_error"] = redact(str(data["last_error"]))[:MAX_ERROR_CHARS]
    data["source"] = redact(str(data["source"]))
    return json.dumps(data, separators=(",", ":"))


def decode_record(raw: bytes | str) -> HeartbeatRecord | None:
    """Parse a heartbeat; None (logged at debug) for anything that is not one (unknown keys are ignored)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known: dict[str, Any] = {k: v for k, v in data.items() if k in _FIELDS}
        rec = HeartbeatRecord(**known)
        if not isinstance(rec.kind, str) or not isinstance(rec.name, str):
            raise ValueError("kind/name are not strings")
        return rec
    except (ValueError, TypeError) as exc:
        logger.debug("ignoring a malformed heartbeat: %s", exc)
        return None


def write_heartbeat(client: Any, keys: HeartbeatKeys, rec: HeartbeatRecord, ttl_s: float) -> None:
    """SET the live key with a TTL and HSET the last-known record, in one round trip (raises redis errors)."""
    payload = encode_record(rec)
    pipe = client.pipeline(transaction=False)
    pipe.set(keys.alive(rec.kind, rec.name), payload, px=max(1, int(ttl_s * 1000)))
    pipe.hset(keys.last(), f"{rec.kind}:{rec.name}", payload)
    pipe.execute()


@dataclass
class ProcessView:
    """One row of ``mctrack status``: the latest record, whether it is alive, and the supervisor's view."""

    kind: str
    name: str
    alive: bool
    record: HeartbeatRecord | None
    supervisor: dict[str, Any] | None

    @property
    def state(self) -> str:
        sup = str((self.supervisor or {}).get("state") or "")
        if sup in ("backoff", "failed"):  # the supervisor knows the process is down
            return sup
        if self.record is None:
            return "no-heartbeat"
        if self.alive:
            return self.record.state
        if self.record.state in ("stopped", "failed"):
            return self.record.state
        return "stale"


def read_heartbeats(client: Any, keys: HeartbeatKeys, expected_workers: list[str] | None = None) -> list[ProcessView]:
    """Every process that ever beat under this prefix (plus ``expected_workers`` never seen), hub first."""
    last = client.hgetall(keys.last())
    sup = client.hgetall(keys.supervisor())
    ids: set[tuple[str, str]] = set()
    for raw_key in list(last) + list(sup):
        text = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        kind, _, name = text.partition(":")
        if name:
            ids.add((kind, name))
    for cam in expected_workers or []:
        ids.add((KIND_WORKER, cam))
    ordered = sorted(ids, key=lambda kn: (kn[0] != KIND_HUB, kn[1]))
    pipe = client.pipeline(transaction=False)
    for kind, name in ordered:
        pipe.exists(keys.alive(kind, name))
    alive_flags = pipe.execute() if ordered else []
    views: list[ProcessView] = []
    for (kind, name), alive in zip(ordered, alive_flags):
        field_key = f"{kind}:{name}".encode()
        rec = decode_record(last[field_key]) if field_key in last else None
        sup_raw = sup.get(field_key)
        sup_view = None
        if sup_raw is not None:
            try:
                sup_view = json.loads(sup_raw)
            except ValueError:
                sup_view = None
        views.append(ProcessView(kind, name, bool(alive), rec, sup_view if isinstance(sup_view, dict) else None))
    return views
