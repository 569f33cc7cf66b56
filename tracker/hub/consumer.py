"""The hub: consumes every camera's update stream through a consumer group and keeps global identities in Redis.

Delivery is at-least-once and processing is idempotent: the state a batch of messages produces (tracks,
identities, trajectories, local->global maps, events, the last applied message id per camera) is written in one
MULTI/EXEC transaction together with the XACK of those messages. A hub that dies mid-batch leaves its messages
pending; the next hub (same or other process) reloads the state from Redis, claims the pending messages and skips
those at or below the camera's last applied id. One hub per key prefix is active (leader lock); a second one waits
as a standby.

Malformed or foreign messages are copied to the dead-letter stream with the reason, acknowledged, and the hub goes
on. Global ids come from ``INCR`` on one counter, so no two processes ever hand out the same id.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from redis.typing import EncodableT, FieldT

from streams.redact import redact
from tracker.bus.outage import OUTAGE_ERRORS, RedisOutage
from tracker.bus.records import TrackRecord, decode_track_record, encode_track_record
from tracker.bus.replies import as_str, autoclaim_page, group_read, member_list
from tracker.bus.schema import (
    FrameMessage,
    Keys,
    MalformedMessageError,
    NowEntry,
    decode_frame,
    decode_now_entry,
    encode_box_point,
    encode_now_entry,
    format_xyxy,
    track_member,
)
from tracker.config import Config
from tracker.config.mapping import identity_params
from tracker.identity import CameraTrack, IdentityEngine, IdentityEvent
from tracker.models.reid.stats import appearance_scale

__all__ = ["Hub", "HubLockedError", "HubLockLostError", "HubStats"]

logger = logging.getLogger(__name__)

_LATENCY_SAMPLES = 200_000          # bounded reservoir of per-message latencies
_RENEW_FRACTION = 1.0 / 3.0         # renew the leader lock after this fraction of its TTL
_TTL_REFRESH_FRACTION = 0.1         # refresh a key's TTL after this fraction of key_ttl_s
_CLAIM_BATCH = 1000
_LOCK_POLL_S = 0.2

_RENEW_LOCK_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""
_RELEASE_LOCK_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class HubLockedError(RuntimeError):
    """Another hub holds the leader lock of this key prefix."""


class HubLockLostError(RuntimeError):
    """This hub's leader lock expired or was taken (a pause longer than hub.lock_ttl_s)."""


def _sid(msg_id: bytes | str) -> tuple[int, int]:
    text = msg_id.decode() if isinstance(msg_id, bytes) else msg_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class HubStats:
    messages: int = 0
    updates: int = 0
    dead_letters: int = 0
    skipped_duplicates: int = 0
    identities_created: int = 0
    assignments: int = 0
    corrections: int = 0
    corrections_by_cause: dict[str, int] = field(default_factory=dict)  # IdentityEvent.cause -> corrections
    steps: int = 0

    @property
    def published(self) -> int:
        """Global ids handed to tracks: new identities and assignments to existing ones."""
        return self.identities_created + self.assignments

    @property
    def correction_rate(self) -> float:
        """How often a published global id was corrected later: corrections / published (0 with none)."""
        return self.corrections / self.published if self.published else 0.0


class _Batch:
    """What one step read and must write."""

    def __init__(self) -> None:
        self.acks: dict[str, list[bytes]] = collections.defaultdict(list)
        self.dead: list[tuple[str, bytes, dict[bytes, bytes], str]] = []
        self.frames: list[tuple[str, bytes, FrameMessage]] = []
        self.points: dict[str, dict[str, float]] = collections.defaultdict(dict)   # camera -> member -> ts
        self.last_box: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self.thumbs: dict[tuple[str, int], list[bytes]] = collections.defaultdict(list)
        self.touched: dict[tuple[str, int], CameraTrack] = {}
        self.camera_last: dict[str, tuple[float, int, bytes]] = {}
        self.msg_ms: list[int] = []


class Hub:
    """Consumes camera update streams and maintains global identities.

    Args:
        client: a redis-py client (bytes responses).
        cfg: the full configuration (``redis.key_prefix`` and the ``hub`` section are used).
        consumer_name: this hub's consumer name (default ``hub.consumer_name`` or ``<hostname>-<pid>``).
    """

    def __init__(self, client: redis.Redis, cfg: Config, consumer_name: str | None = None) -> None:
        self.r = client
        self.cfg = cfg
        self.hcfg = cfg.hub
        self.keys = Keys(cfg.redis.key_prefix)
        self.consumer = consumer_name or cfg.hub.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
        self.stats = HubStats()
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=_LATENCY_SAMPLES)
        self._renew_lock = self.r.register_script(_RENEW_LOCK_LUA)
        self._release_lock = self.r.register_script(_RELEASE_LOCK_LUA)
        self._reset_state()

    # ------------------------------------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self.engine = IdentityEngine(identity_params(self.hcfg, appearance_scale(self.cfg.reid)),
                                     self._allocate_gid)
        self._streams: dict[str, str] = {}          # stream key -> camera
        self._last_applied: dict[str, tuple[int, int]] = {}
        self._backlog: list[tuple[str, bytes, dict[bytes, bytes] | None]] = []
        self._started = False
        self._has_lock = False
        self._lock_renewed = 0.0
        self._last_discover = -math.inf
        self._last_sweep = time.monotonic()
        self._ttl_refreshed: dict[str, float] = {}
        self._persisted: dict[tuple[str, int], tuple[Any, ...]] = {}   # track -> state signature last written
        self._identity_written: dict[int, tuple[float, str]] = {}       # gid -> (camera time, last camera)

    def _allocate_gid(self) -> int:
        return int(self.r.incr(self.keys.next_global_id()))

    # ------------------------------------------------------------------------------------------------ lock
    def _acquire_lock(self, wait_s: float) -> None:
        ttl_ms = int(self.hcfg.lock_ttl_s * 1000)
        deadline = time.monotonic() + wait_s
        while True:
            if self.r.set(self.keys.hub_lock(), self.consumer, nx=True, px=ttl_ms):
                break
            holder = self.r.get(self.keys.hub_lock())
            if holder is not None and as_str(holder) == self.consumer:
                self._renew_lock(keys=[self.keys.hub_lock()], args=[self.consumer, ttl_ms])
                break
            if time.monotonic() >= deadline:
                raise HubLockedError(
                    f"another hub ({as_str(holder) if holder else '?'}) is active for key prefix "
                    f"{self.keys.prefix!r}; it holds {self.keys.hub_lock()} for up to hub.lock_ttl_s = "
                    f"{self.hcfg.lock_ttl_s} s after it stops. Stop it, wait, or use another redis.key_prefix")
            time.sleep(_LOCK_POLL_S)
        self._has_lock = True
        self._lock_renewed = time.monotonic()

    def _maybe_renew_lock(self) -> None:
        now = time.monotonic()
        if now - self._lock_renewed < self.hcfg.lock_ttl_s * _RENEW_FRACTION:
            return
        ok = self._renew_lock(keys=[self.keys.hub_lock()], args=[self.consumer, int(self.hcfg.lock_ttl_s * 1000)])
        if not ok and self.r.get(self.keys.hub_lock()) is None:
            # nobody holds it: it expired while Redis was away (or was lost with a restart without persistence).
            # Start again: take it, reload the state from Redis, re-claim what is pending.
            logger.warning("hub %s: the leader lock expired (Redis restarted or unreachable for longer than "
                           "hub.lock_ttl_s = %g s?); taking it again and reloading the state", self.consumer,
                           self.hcfg.lock_ttl_s)
            self._has_lock = False
            self._started = False
            self.start()
            return
        if not ok:
            self._has_lock = False
            self._started = False
            raise HubLockLostError(f"hub {self.consumer} lost its leader lock (paused longer than "
                                   f"hub.lock_ttl_s = {self.hcfg.lock_ttl_s} s?); restart it")
        self._lock_renewed = now

    # ------------------------------------------------------------------------------------------------ start-up
    def start(self, wait_s: float | None = None) -> None:
        """Take the leader lock (waiting up to ``wait_s``, default lock_ttl_s + 1 s), create consumer groups,
        reload the identity state from Redis and claim messages left pending by a previous hub."""
        if self._started:
            return
        self._reset_state()
        self._acquire_lock(self.hcfg.lock_ttl_s + 1.0 if wait_s is None else wait_s)
        self.r.set(self.keys.schema(), "1")
        self._discover(force=True)
        self._restore()
        self._recover_pending()
        self._started = True
        logger.info("hub %s started: %d camera stream(s), %d identities and %d tracks restored, %d pending "
                    "message(s) to re-process", self.consumer, len(self._streams), len(self.engine.identities),
                    len(self.engine.tracks), len(self._backlog))

    def _discover(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_discover < self.hcfg.discover_interval_s:
            # cheap check every step, so a new camera's first frames are not held back for the whole interval
            if int(self.r.scard(self.keys.cameras())) == len(self._streams):
                return
        self._last_discover = now
        cameras = sorted(as_str(c) for c in self.r.smembers(self.keys.cameras()))
        for camera in cameras:
            stream = self.keys.updates(camera)
            if stream in self._streams:
                continue
            try:
                self.r.xgroup_create(stream, self.hcfg.consumer_group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._streams[stream] = camera
            logger.info("consuming camera %s (%s)", camera, stream)

    def _restore(self) -> None:
        cameras = list(self._streams.values())
        states = self.r.hgetall(self.keys.camera_states())
        clock = -math.inf
        for camera in cameras:
            raw = states.get(camera.encode())
            if not raw:
                continue
            last_ts, _, last_msg = as_str(raw).split("|")
            self._last_applied[camera] = _sid(last_msg)
            self.engine.camera_clock[camera] = float(last_ts)
            clock = max(clock, float(last_ts))
        if not math.isfinite(clock):
            return
        since = clock - self.hcfg.gallery_retention_s
        pipe = self.r.pipeline(transaction=False)
        for camera in cameras:
            pipe.zrangebyscore(self.keys.camera_tracks(camera), since, "+inf")
            pipe.hgetall(self.keys.camera_now(camera))
        res = pipe.execute()
        now: dict[tuple[str, int], NowEntry] = {}
        members_set: set[tuple[str, int]] = set()
        for camera, lids, entries in zip(cameras, res[0::2], res[1::2]):
            members_set.update((camera, int(lid)) for lid in lids)
            for lid, value in entries.items():
                now[(camera, int(lid))] = decode_now_entry(value)
                members_set.add((camera, int(lid)))
        members = sorted(members_set)
        pipe = self.r.pipeline(transaction=False)
        for camera, lid in members:
            pipe.hgetall(self.keys.track(camera, lid))
        restored = [_track_from_hash(camera, lid, h) for (camera, lid), h in zip(members, pipe.execute()) if h]
        for t in restored:
            entry = now.get(t.key)
            if entry is not None and entry.last_ts > t.last_ts:  # cam:now is written every step, trk on change
                t.last_ts, t.last_frame = entry.last_ts, entry.last_frame
        for t in sorted(restored, key=lambda t: t.last_ts):  # oldest first: the normaliser keeps recent votes
            self.engine.restore_track(t)
            self._persisted[t.key] = _signature(t)
        self.engine.end_stale_tracks()
        self.engine.evict()
        logger.debug("restored %d track(s) seen since %.3f", len(restored), since)

    def _recover_pending(self) -> None:
        """Claim every message still pending in our group (a dead hub's unacknowledged batch), in id order."""
        for stream in self._streams:
            start = "0-0"
            while True:
                cursor, entries, n_deleted = autoclaim_page(self.r.xautoclaim(
                    stream, self.hcfg.consumer_group, self.consumer, min_idle_time=0, start_id=start,
                    count=_CLAIM_BATCH))
                if n_deleted:  # Redis 6.2 reports them without their ids: they cannot be acknowledged
                    logger.warning("%d pending message(s) of %s were trimmed before the hub processed them",
                                   n_deleted, stream)
                for msg_id, fields in entries:
                    self._backlog.append((stream, msg_id, fields))
                if cursor in ("0-0", "0"):
                    break
                start = cursor
        self._backlog.sort(key=lambda e: (e[0], _sid(e[1])))

    # ------------------------------------------------------------------------------------------------ reading
    def _read(self, max_messages: int | None, block_ms: int) -> list[tuple[str, bytes, dict[bytes, bytes] | None]]:
        if self._backlog:
            n = max_messages or self.hcfg.read_count * max(1, len(self._streams))
            claimed, self._backlog = self._backlog[:n], self._backlog[n:]
            return claimed
        if not self._streams:
            if block_ms:
                time.sleep(block_ms / 1000.0)
            return []
        per_stream = self.hcfg.read_count
        if max_messages:
            per_stream = max(1, min(per_stream, max_messages // len(self._streams)))
        try:
            resp = self.r.xreadgroup(self.hcfg.consumer_group, self.consumer, {s: ">" for s in self._streams},
                                     count=per_stream, block=block_ms if block_ms > 0 else None)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc):  # a stream was deleted (e.g. FLUSHDB): recreate the groups
                self._streams.clear()
                self._discover(force=True)
                return []
            raise
        out: list[tuple[str, bytes, dict[bytes, bytes] | None]] = []
        for stream, entries in group_read(resp):
            for msg_id, fields in entries:
                out.append((stream, msg_id, fields))
        return out

    # ------------------------------------------------------------------------------------------------ stepping
    def step(self, max_messages: int | None = None, block_ms: int = 0) -> int:
        """Process what is available (up to ``max_messages``; waiting up to ``block_ms`` when nothing is).

        Returns the number of stream messages handled (applied, skipped as duplicates or dead-lettered).
        """
        if not self._started:
            self.start()
        self._maybe_renew_lock()
        self._discover()
        entries = self._read(max_messages, block_ms)
        self._process(entries, force=False)
        return len(entries)

    def drain(self, max_rounds: int = 1_000_000) -> int:
        """Process everything published so far, then decide every deferred track. Returns messages handled."""
        total = 0
        self._discover(force=True)
        for _ in range(max_rounds):
            n = self.step()
            total += n
            if n == 0 and not self._backlog:
                break
        self._process([], force=True)
        return total

    def run(self, stop_event: threading.Event) -> None:
        """Serve until ``stop_event`` is set, riding out Redis outages: a failed step is retried with backoff
        (``worker.redis_initial_backoff_s`` doubling to ``worker.redis_max_backoff_s``); the next successful one
        reloads the state from Redis and re-claims the messages left pending in the consumer group. The outage's
        start and end are logged once each (:class:`tracker.bus.outage.RedisOutage`)."""
        w = self.cfg.worker
        outage = RedisOutage(f"hub {self.consumer}", w.redis_initial_backoff_s, w.redis_max_backoff_s,
                             self.cfg.source.reconnect_jitter)
        while not stop_event.is_set():
            try:
                self.step(block_ms=self.hcfg.block_ms)
            except OUTAGE_ERRORS as exc:
                self.lost_connection()
                stop_event.wait(outage.failed(exc))
                continue
            if outage.down:
                outage.recovered(f"state reloaded, {len(self._streams)} camera stream(s) resumed from consumer "
                                 f"group {self.hcfg.consumer_group!r}")
        try:
            self._process([], force=False)
        except OUTAGE_ERRORS as exc:  # stopping during an outage: the next hub re-processes what is pending
            logger.warning("hub %s stopped while Redis was unreachable (%s); unacknowledged messages stay pending "
                           "for the next hub", self.consumer, redact(str(exc)))
        finally:
            self.close()

    def lost_connection(self) -> None:
        """Forget the in-memory state after a failed Redis call: the next :meth:`step` starts again (leader lock,
        state reloaded from Redis, pending messages re-claimed)."""
        self._started = False

    def close(self) -> None:
        """Release the leader lock (state is already in Redis)."""
        if self._has_lock:
            try:
                self._release_lock(keys=[self.keys.hub_lock()], args=[self.consumer])
            except redis.exceptions.RedisError as exc:  # pragma: no cover - best effort
                logger.warning("could not release the hub lock: %s", exc)
            self._has_lock = False
        self._started = False

    # ------------------------------------------------------------------------------------------------ processing
    def _process(self, entries: list[tuple[str, bytes, dict[bytes, bytes] | None]], force: bool) -> None:
        batch = _Batch()
        for stream, msg_id, fields in entries:
            camera = self._streams.get(stream) or stream.rsplit(":", 2)[-2]
            batch.acks[stream].append(msg_id)
            if fields is None:  # trimmed away before it could be claimed
                logger.warning("message %s of %s was trimmed before the hub processed it", as_str(msg_id), stream)
                continue
            sid = _sid(msg_id)
            if sid <= self._last_applied.get(camera, (-1, -1)):
                self.stats.skipped_duplicates += 1
                continue
            try:
                fm = decode_frame(fields, expected_camera=camera)
                if len(fm.emb_index):
                    self.engine.check_dim(fm.embeddings.shape[1])
            except (MalformedMessageError, ValueError) as exc:
                batch.dead.append((stream, msg_id, fields, str(exc)))
                logger.warning("dead-lettered message %s of %s: %s", as_str(msg_id), stream, exc)
                continue
            self._last_applied[camera] = sid
            batch.frames.append((camera, msg_id, fm))
            batch.msg_ms.append(sid[0])
        batch.frames.sort(key=lambda e: e[2].timestamp_s)
        for camera, msg_id, fm in batch.frames:
            self._apply_frame(batch, camera, msg_id, fm)
        events = self.engine.decide(force=force)
        ended = self.engine.end_stale_tracks(force=force)
        evicted = self.engine.evict() if ended or force else []
        self._commit(batch, events, ended, evicted, flush=force)

    def _apply_frame(self, batch: _Batch, camera: str, msg_id: bytes, fm: FrameMessage) -> None:
        positions, covariances = fm.ground_per_update()
        tracks = self.engine.observe(camera, fm.frame_index, fm.timestamp_s, fm.local_ids.tolist(),
                                     fm.emb_index, fm.embeddings, fm.quality, positions, covariances,
                                     boxes_xyxy=fm.xyxy)
        ground = {int(row): fm.ground_xy_m[j] for j, row in enumerate(fm.ground_index)}
        for i, t in enumerate(tracks):
            key = t.key
            batch.touched[key] = t
            batch.points[camera][encode_box_point(t.local_id, fm.frame_index, fm.xyxy[i], float(fm.confidence[i]),
                                                  ground.get(i))] = fm.timestamp_s
            batch.last_box[key] = (fm.xyxy[i], float(fm.confidence[i]))
        late = fm.late
        for j, lid in enumerate(late.local_ids.tolist()):
            if (camera, lid) not in self.engine.tracks:
                continue  # its track ended, or its updates never came: no trajectory to add to
            point = encode_box_point(lid, int(late.frame_index[j]), late.xyxy[j], float(late.confidence[j]))
            batch.points[camera][point] = float(late.timestamp_s[j])  # trajectories only, not identity evidence
        for lid, jpeg in fm.thumbnails.items():
            batch.thumbs[(camera, int(lid))].append(jpeg)
        prev = batch.camera_last.get(camera)
        if prev is None or fm.timestamp_s >= prev[0]:
            batch.camera_last[camera] = (fm.timestamp_s, fm.frame_index, msg_id)

    # ------------------------------------------------------------------------------------------------ writing
    def _ttl_due(self, key: str, now: float) -> bool:
        last = self._ttl_refreshed.get(key)
        if last is not None and now - last < self.hcfg.key_ttl_s * _TTL_REFRESH_FRACTION:
            return False
        self._ttl_refreshed[key] = now
        return True

    def _commit(self, batch: _Batch, events: list[IdentityEvent], ended: list[CameraTrack], evicted: list[int],
                flush: bool = False) -> None:
        """Write everything the step changed plus the XACKs in one MULTI/EXEC transaction.

        Per camera and step: one ZADD of all trajectory points, one HSET of the open tracks' current state
        (cam:now), one ZADD of last-seen times. Per track only when its identity state changed (new, embedding,
        global id, ended). Per identity: the last-seen index every step, the summary hash at most every
        identity_refresh_s.
        """
        k, h = self.keys, self.hcfg
        ttl = int(h.key_ttl_s)
        wall = time.monotonic()
        pipe = self.r.pipeline(transaction=True)
        touched = dict(batch.touched)
        for ev in events:
            t = self.engine.tracks.get((ev.camera, ev.local_id))
            if t is not None:
                touched[t.key] = t
        for t in ended:
            touched[t.key] = t
        now_entries: dict[str, dict[FieldT, EncodableT]] = collections.defaultdict(dict)
        seen: dict[str, dict[str, float]] = collections.defaultdict(dict)
        ended_keys = {t.key for t in ended}
        for key, t in touched.items():
            box_conf = batch.last_box.get(key)
            if key not in ended_keys and box_conf is not None:
                now_entries[t.camera][str(t.local_id)] = encode_now_entry(
                    t.gid, t.first_ts, t.last_ts, t.last_frame, box_conf[0], box_conf[1])
            if key not in self._persisted or key in ended_keys:  # retention index: on creation and at the end
                seen[t.camera][str(t.local_id)] = t.last_ts
            sig = _signature(t)
            if self._persisted.get(key) != sig:
                self._write_track(pipe, t, box_conf, wall, ttl)
                self._persisted[key] = sig
        for camera, points in batch.points.items():
            pipe.zadd(k.camera_boxes(camera), points)
        for camera, entries in now_entries.items():
            pipe.hset(k.camera_now(camera), mapping=entries)
        for camera, mapping in seen.items():
            pipe.zadd(k.camera_tracks(camera), mapping)
        for t in ended:
            pipe.hdel(k.camera_now(t.camera), str(t.local_id))
        if h.thumbnails_per_track > 0:
            for key, jpegs in batch.thumbs.items():
                thumbs = k.track_thumbnails(*key)
                pipe.lpush(thumbs, *jpegs)
                pipe.ltrim(thumbs, 0, h.thumbnails_per_track - 1)
                pipe.expire(thumbs, ttl)
        if batch.camera_last:
            pipe.hset(k.camera_states(), mapping={camera: f"{ts!r}|{frame}|{as_str(msg_id)}"
                                                  for camera, (ts, frame, msg_id) in batch.camera_last.items()})
        changed: set[int] = set()
        if flush:  # bring every throttled identity summary up to date
            changed.update(g for g, ident in self.engine.identities.items()
                           if self._identity_written.get(g, (-math.inf, ""))[0] < ident.last_ts)
        self._write_events(pipe, events, ended, changed)
        self._write_identities(pipe, touched, batch.last_box, changed, wall, ttl)
        for gid in evicted:
            self._ttl_refreshed.pop(k.identity(gid), None)
            self._identity_written.pop(gid, None)
        for t in ended:
            self._forget_caches(t.key)
        for stream, msg_id, fields, error in batch.dead:
            dead: dict[FieldT, EncodableT] = {b"_error": error.encode(), b"_stream": stream.encode(), b"_id": msg_id}
            dead.update({kk: vv for kk, vv in fields.items() if not kk.startswith(b"_")})
            pipe.xadd(k.dead_letter(), dead, maxlen=h.dead_letter_maxlen, approximate=True)
        for stream, ids in batch.acks.items():
            pipe.xack(stream, h.consumer_group, *ids)
        n_created = sum(1 for e in events if e.kind == "new_identity")
        n_assigned = sum(1 for e in events if e.kind == "assigned")
        n_corrected = sum(1 for e in events if e.kind == "corrected")
        n_msgs = len(batch.frames) + len(batch.dead)  # applied or dead-lettered; duplicates are not counted
        n_updates = sum(len(f[2]) for f in batch.frames)
        if n_msgs or events:
            counters = {"messages": n_msgs, "updates": n_updates, "dead_letters": len(batch.dead),
                        "identities_created": n_created, "corrections": n_corrected}
            for name, value in counters.items():
                if value:
                    pipe.hincrby(k.hub_stats(), name, value)
        if len(pipe):
            try:
                pipe.execute()
            except redis.exceptions.RedisError:
                # memory and Redis disagree now: reload from Redis and re-claim the unacknowledged messages
                self._started = False
                raise
        done = time.time() * 1000.0
        self.latencies_ms.extend(done - ms for ms in batch.msg_ms)
        self.stats.messages += n_msgs
        self.stats.updates += n_updates
        self.stats.dead_letters += len(batch.dead)
        self.stats.identities_created += n_created
        self.stats.assignments += n_assigned
        self.stats.corrections += n_corrected
        for e in events:
            if e.kind == "corrected":
                cause = e.cause or "unknown"
                self.stats.corrections_by_cause[cause] = self.stats.corrections_by_cause.get(cause, 0) + 1
        self.stats.steps += 1
        if time.monotonic() - self._last_sweep >= h.sweep_interval_s:
            self.sweep()

    def _write_track(self, pipe: Any, t: CameraTrack, box_conf: tuple[np.ndarray, float] | None, wall: float,
                     ttl: int) -> None:
        tk = self.keys.track(t.camera, t.local_id)
        old = self._persisted.get(t.key)
        new_feature = t.feat_sum is not None and (old is None or old[0] != t.n_total)
        rec = TrackRecord(
            camera=t.camera, local_id=t.local_id, first_ts=t.first_ts, last_ts=t.last_ts,
            first_frame=t.first_frame, last_frame=t.last_frame, gid=t.gid, assigned_ts=t.assigned_ts,
            n_good=t.n_good, n_total=t.n_total, weight=t.weight, n_good_checked=t.n_good_checked, ended=t.ended,
            box_xyxy=box_conf[0] if box_conf is not None else None,
            confidence=box_conf[1] if box_conf is not None else None,
            feat_sum=t.feat_sum if new_feature else None)
        pipe.hset(tk, mapping=encode_track_record(rec))
        if self._ttl_due(tk, wall):
            pipe.expire(tk, ttl)

    def _write_events(self, pipe: Any, events: list[IdentityEvent], ended: list[CameraTrack],
                      changed: set[int]) -> None:
        """Events stream, identity track sets and local->global maps; ``changed`` collects identities whose
        summary must be rewritten now."""
        k, h = self.keys, self.hcfg
        for ev in events:
            member = track_member(ev.camera, ev.local_id)
            fields = {"kind": ev.kind, "gid": ev.gid, "camera": ev.camera, "local_id": ev.local_id,
                      "ts": repr(ev.timestamp_s)}
            if ev.previous_gid is not None:
                fields["previous_gid"] = ev.previous_gid
            if ev.similarity is not None:
                fields["similarity"] = f"{ev.similarity:.4f}"
            if ev.cause is not None:
                fields["cause"] = ev.cause
            if ev.ground_sigmas is not None:
                fields["ground_sigmas"] = f"{ev.ground_sigmas:.2f}"
            pipe.xadd(k.events(), fields, maxlen=h.events_maxlen, approximate=True)
            if ev.kind == "retired":
                pipe.hset(k.identity(ev.gid), mapping={"merged_into": ev.previous_gid})
                pipe.zrem(k.identities_by_last_seen(), ev.gid)
                pipe.zrem(k.identities_by_first_seen(), ev.gid)
                pipe.delete(k.identity_tracks(ev.gid), k.identity_cameras(ev.gid))
                changed.discard(ev.gid)
                self._identity_written.pop(ev.gid, None)
                continue
            if ev.kind == "corrected" and ev.previous_gid is not None:
                pipe.srem(k.identity_tracks(ev.previous_gid), member)
                prev = self.engine.identities.get(ev.previous_gid)
                if prev is not None:
                    changed.add(prev.gid)
                    if not any(t.camera == ev.camera for t in prev.tracks.values()):
                        pipe.hdel(k.identity_cameras(prev.gid), ev.camera)
            pipe.sadd(k.identity_tracks(ev.gid), member)
            pipe.hset(k.camera_local_to_global(ev.camera), str(ev.local_id), ev.gid)
            changed.add(ev.gid)
        for t in ended:
            pipe.xadd(k.events(), {"kind": "track_ended", "gid": "" if t.gid is None else t.gid,
                                   "camera": t.camera, "local_id": t.local_id, "ts": repr(t.last_ts)},
                      maxlen=h.events_maxlen, approximate=True)

    def _write_identities(self, pipe: Any, touched: dict[tuple[str, int], CameraTrack],
                          last_box: dict[tuple[str, int], tuple[np.ndarray, float]], changed: set[int], wall: float,
                          ttl: int) -> None:
        k, h = self.keys, self.hcfg
        latest: dict[int, CameraTrack] = {}
        for track in touched.values():
            if track.gid is not None and (track.gid not in latest or track.last_ts >= latest[track.gid].last_ts):
                latest[track.gid] = track
        last_seen: dict[str, float] = {}
        for gid in set(latest) | changed:
            ident = self.engine.identities.get(gid)
            if ident is None:
                continue
            last_seen[str(gid)] = ident.last_ts
            t = latest.get(gid)
            written = self._identity_written.get(gid)
            due = (gid in changed or written is None or ident.last_ts - written[0] >= h.identity_refresh_s
                   or (t is not None and t.camera != written[1]))
            if not due:
                continue
            fields: dict[str, Any] = {"gid": gid, "first_ts": repr(ident.first_ts), "last_ts": repr(ident.last_ts),
                                      "n_tracks": len(ident.tracks)}
            cams: dict[str, str] = {}
            for u in ident.tracks.values():
                if u.camera not in cams or float(cams[u.camera]) < u.last_ts:
                    cams[u.camera] = repr(u.last_ts)
            if t is not None:
                fields.update({"last_camera": t.camera, "last_local_id": t.local_id, "last_frame": t.last_frame})
                if t.key in last_box:
                    fields["last_box"] = format_xyxy(last_box[t.key][0])
            ik = k.identity(gid)
            pipe.hset(ik, mapping=fields)
            pipe.zadd(k.identities_by_first_seen(), {str(gid): ident.first_ts})
            if cams:
                pipe.hset(k.identity_cameras(gid), mapping=cams)
            self._identity_written[gid] = (ident.last_ts, t.camera if t is not None else
                                           (written[1] if written else ""))
            if self._ttl_due(ik, wall):
                pipe.expire(ik, ttl)
                pipe.expire(k.identity_cameras(gid), ttl)
                pipe.expire(k.identity_tracks(gid), ttl)
        if last_seen:
            pipe.zadd(k.identities_by_last_seen(), last_seen)

    def _forget_caches(self, key: tuple[str, int]) -> None:
        """Drop per-track caches of a track the engine no longer holds (ended tracks stay until pruned)."""
        if key not in self.engine.tracks:
            self._persisted.pop(key, None)
        self._ttl_refreshed.pop(self.keys.track(*key), None)

    # ------------------------------------------------------------------------------------------------ retention
    def sweep(self) -> None:
        """Delete what is older than hub.retention_s (camera time): trajectory points, tracks (keys, maps, index
        entries) and identities; trim processed stream entries; forget stale caches."""
        self._last_sweep = time.monotonic()
        k, h = self.keys, self.hcfg
        removed_tracks = 0
        cameras = [c for c in self._streams.values() if c in self.engine.camera_clock]
        pipe = self.r.pipeline(transaction=False)
        for camera in cameras:
            pipe.zrangebyscore(k.camera_tracks(camera), "-inf", f"({self.engine.camera_clock[camera] - h.retention_s}")
            pipe.hkeys(k.camera_now(camera))
        res = pipe.execute() if cameras else []
        old_by_camera = {}
        for camera, old, open_now in zip(cameras, res[0::2], res[1::2]):
            keep = set(open_now)  # a track open for longer than retention_s stays
            old_by_camera[camera] = [as_str(x) for x in old if x not in keep]
        pipe = self.r.pipeline(transaction=False)
        for camera in cameras:
            if old_by_camera[camera]:
                pipe.hmget(k.camera_local_to_global(camera), old_by_camera[camera])
        gids_iter = iter(pipe.execute() if any(old_by_camera.values()) else [])
        pipe = self.r.pipeline(transaction=True)
        for camera in cameras:
            cutoff = f"({self.engine.camera_clock[camera] - h.retention_s}"
            pipe.zremrangebyscore(k.camera_boxes(camera), "-inf", cutoff)
            pipe.zremrangebyrank(k.camera_boxes(camera), 0, -(h.trajectory_max_points + 1))
            lids = old_by_camera[camera]
            if not lids:
                continue
            for lid, gid in zip(lids, next(gids_iter)):
                if gid:
                    pipe.srem(k.identity_tracks(int(gid)), track_member(camera, int(lid)))
                pipe.delete(k.track(camera, int(lid)), k.track_thumbnails(camera, int(lid)))
                self._forget_caches((camera, int(lid)))
            pipe.hdel(k.camera_local_to_global(camera), *lids)
            pipe.zrem(k.camera_tracks(camera), *lids)
            removed_tracks += len(lids)
        if cameras:
            pipe.execute()
        clock = self.engine.clock_s
        removed_ids = 0
        if math.isfinite(clock):
            cutoff = f"({clock - h.retention_s}"
            old_ids = member_list(self.r.zrangebyscore(k.identities_by_last_seen(), "-inf", cutoff))
            if old_ids:
                pipe = self.r.pipeline(transaction=True)
                for gid in old_ids:
                    g = int(gid)
                    pipe.delete(k.identity(g), k.identity_cameras(g), k.identity_tracks(g))
                    self._ttl_refreshed.pop(k.identity(g), None)
                    self._identity_written.pop(g, None)
                pipe.zrem(k.identities_by_last_seen(), *old_ids)
                pipe.zrem(k.identities_by_first_seen(), *old_ids)
                pipe.execute()
                removed_ids = len(old_ids)
        if h.trim_processed and self._last_applied:
            pipe = self.r.pipeline(transaction=False)
            for stream, camera in self._streams.items():
                applied = self._last_applied.get(camera)
                if applied is not None:
                    pipe.xtrim(stream, minid=f"{applied[0]}-{applied[1]}", approximate=True)
            pipe.execute()
        live = set(self.engine.tracks)
        for key in [key for key in self._persisted if key not in live]:
            self._persisted.pop(key, None)
        for gid in [g for g in self._identity_written if g not in self.engine.identities]:
            self._identity_written.pop(gid, None)
        horizon = time.monotonic() - h.key_ttl_s
        for redis_key in [rk for rk, v in self._ttl_refreshed.items() if v < horizon]:
            self._ttl_refreshed.pop(redis_key, None)
        if removed_tracks or removed_ids:
            logger.debug("retention sweep removed %d track(s) and %d identities", removed_tracks, removed_ids)

    # ------------------------------------------------------------------------------------------------ figures
    def latency_percentiles_ms(self, percentiles: Iterable[float] = (50, 99)) -> dict[float, float]:
        """Message latency (publish -> state committed) percentiles over the retained samples."""
        if not self.latencies_ms:
            return {p: math.nan for p in percentiles}
        arr = np.fromiter(self.latencies_ms, dtype=np.float64)
        return {p: float(np.percentile(arr, p)) for p in percentiles}


def _signature(t: CameraTrack) -> tuple[Any, ...]:
    """What makes a track's hash worth rewriting (n_total first: a change means a new feature to store)."""
    return (t.n_total, t.gid, t.assigned_ts, t.n_good_checked, t.ended)


def _track_from_hash(camera: str, local_id: int, h: dict[bytes, bytes]) -> CameraTrack:
    rec = decode_track_record(camera, local_id, h)
    return CameraTrack(
        camera=rec.camera, local_id=rec.local_id, first_ts=rec.first_ts, last_ts=rec.last_ts,
        first_frame=rec.first_frame, last_frame=rec.last_frame, feat_sum=rec.feat_sum, weight=rec.weight,
        n_good=rec.n_good, n_total=rec.n_total, gid=rec.gid, assigned_ts=rec.assigned_ts,
        n_good_checked=rec.n_good_checked, ended=rec.ended,
    )
