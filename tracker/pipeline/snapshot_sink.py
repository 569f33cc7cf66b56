"""A sink that publishes a camera's latest frame, with its tracks drawn in, as a small JPEG for the web console's
camera wall (``cam:{camera}:snapshot``, see :mod:`tracker.bus.snapshot`).

It never slows the frame loop nor waits for Redis:

* at most one snapshot per ``snapshots.interval_s`` of wall time (:class:`SnapshotGate`); between them a frame
  costs one clock read;
* when one is due the frame loop only copies the image (~0.05 ms for 768x576) and the boxes; scaling, drawing,
  JPEG encoding and the Redis writes run in the outbox's writer thread (:meth:`tracker.bus.outbox.Outbox.set_latest`:
  one pending snapshot per camera, a newer one replaces it);
* a snapshot is disposable: while the outbox has no Redis connection it is not made at all, one that waited
  longer than :func:`stale_after_s` (an outage began after it was queued) is not written, and none is ever
  buffered. Each of these counts as dropped (:class:`SnapshotStats`).

Boxes are labelled with the hub's global id (``#12``, read from ``cam:{camera}:l2g`` with one HMGET per
snapshot) or, while the hub has not assigned the track, its camera-local id (``c5``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.base import Frame
from streams.redact import redact
from tracker.bus.outage import OUTAGE_ERRORS
from tracker.bus.outbox import Outbox
from tracker.bus.schema import Keys
from tracker.bus.snapshot import Snapshot, read_global_ids, write_snapshot
from tracker.config.snapshots import SnapshotsConfig
from tracker.pipeline.camera import FrameResult
from tracker.pipeline.draw import TrackBox, draw_boxes

__all__ = ["SnapshotGate", "SnapshotSink", "SnapshotStats", "render_snapshot", "snapshot_label", "stale_after_s"]

logger = logging.getLogger(__name__)

_MIN_STALE_S = 0.5      # a queued snapshot is written if it waited less than this (or the interval, if longer)
_AREA_BELOW_SCALE = 0.5  # scale factors at or below this use area averaging
_WARN_EVERY_S = 60.0    # rate limit of the warning about a failed snapshot


def stale_after_s(interval_s: float) -> float:
    """How long a queued snapshot may wait for the writer thread before it is dropped as too old: the interval
    (the next one is due by then), at least 0.5 s (the writer's normal delay is a few ms, one batch of stream
    messages at worst)."""
    return max(interval_s, _MIN_STALE_S)


def snapshot_label(local_id: int, global_id: int | None) -> str:
    """``#12`` for a track the hub gave global id 12; ``c5`` for camera-local track 5 while it has none."""
    return f"#{global_id}" if global_id is not None else f"c{local_id}"


class SnapshotGate:
    """Lets one snapshot through per ``interval_s`` of ``clock`` (monotonic seconds); the first at once. The
    cadence is kept (the next one is due an interval after the previous was due, not after the frame that took it,
    so frames arriving just after the due time do not stretch the interval); after a pause longer than the
    interval (no frames) the cadence restarts from the frame that ends it."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError(f"snapshots.interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self._clock = clock
        self._next = -float("inf")

    def take(self) -> bool:
        """True when a snapshot is due now (and the next one is scheduled)."""
        now = self._clock()
        if now < self._next:
            return False
        on_cadence = self._next + self.interval_s
        self._next = on_cadence if now < on_cadence else now + self.interval_s
        return True


@dataclass(frozen=True)
class SnapshotStats:
    """Counters of one camera's snapshots since the sink was made.

    Attributes:
        written: snapshots written to Redis.
        dropped: snapshots due but not written: Redis unreachable when due, replaced by a newer one before the
            writer got to it, too old once it did (``stale_after_s``), or refused by Redis / failed to encode
            (logged).
    """

    written: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class _Job:
    """A snapshot taken from the frame loop, to be rendered and written by the outbox's thread."""

    image: np.ndarray                           # (H, W, 3) uint8 BGR, a private copy
    boxes: tuple[tuple[int, tuple[float, float, float, float]], ...]  # (local id, xyxy in image pixels)
    frame_index: int
    ts: float
    taken_mono: float


def render_snapshot(image: np.ndarray, boxes: Sequence[tuple[int, tuple[float, float, float, float]]],
                    global_ids: Mapping[int, int], title: str, max_width_px: int,
                    jpeg_quality: int) -> tuple[bytes, int, int]:
    """The snapshot JPEG: ``image`` (H, W, 3) BGR scaled down to at most ``max_width_px`` wide (aspect kept), the
    boxes (local id, xyxy in ``image`` pixels) drawn with :func:`snapshot_label` labels, ``title`` at the top.
    Returns (JPEG bytes, width, height) in pixels."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_width_px / w)
    if scale < 1.0:
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        # bilinear: 0.8 ms for 768x576 -> 640x480, where INTER_AREA's non-integer ratio path takes ~13 ms
        # (benchmarks/snapshot_age.py); area averaging only matters below half size (aliasing)
        img = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale <= _AREA_BELOW_SCALE else cv2.INTER_LINEAR)
    else:
        img = image.copy()
    drawn = []
    for local_id, xyxy in boxes:
        gid = global_ids.get(local_id)
        x1, y1, x2, y2 = (v * scale for v in xyxy)
        drawn.append(TrackBox((x1, y1, x2, y2), snapshot_label(local_id, gid), gid or local_id))
    draw_boxes(img, drawn, title)
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
    if not ok:
        raise ValueError(f"JPEG encoding of a {img.shape[1]}x{img.shape[0]} snapshot failed")
    return buf.tobytes(), int(img.shape[1]), int(img.shape[0])


class SnapshotSink:
    """Publishes one camera's snapshots through ``outbox`` (the process's Redis writer) every
    ``cfg.interval_s`` (see the module docstring).

    Args:
        outbox: the worker's (or replay session's) outbox; the snapshot is written on its client.
        keys: key names (``redis.key_prefix``). camera: the camera id.
        clock: monotonic seconds (tests pass a fake). wall_clock: Unix seconds for ``wall_ts``.
    """

    def __init__(self, outbox: Outbox, keys: Keys, camera: str, cfg: SnapshotsConfig, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        self.camera = camera
        self.cfg = cfg
        self._outbox = outbox
        self._keys = keys
        self._clock = clock
        self._wall_clock = wall_clock
        self._gate = SnapshotGate(cfg.interval_s, clock)
        self._stale_s = stale_after_s(cfg.interval_s)
        self._tag = f"snapshot {camera}"
        self._lock = threading.Lock()   # the counters: the frame loop and the writer thread both count
        self._written = 0
        self._dropped = 0
        self._last_warn = -float("inf")

    def stats(self) -> SnapshotStats:
        with self._lock:
            return SnapshotStats(self._written, self._dropped)

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        if not self._gate.take():
            return
        if not self._outbox.stats().connected:  # Redis down: a snapshot is disposable, never buffered
            self._count(dropped=1)
            return
        boxes = tuple((int(u.local_id), (float(u.xyxy[0]), float(u.xyxy[1]), float(u.xyxy[2]), float(u.xyxy[3])))
                      for u in result.updates)
        job = _Job(frame.image.copy(), boxes, int(frame.index), float(frame.timestamp_s), self._clock())
        if self._outbox.set_latest(self._tag, lambda client: self._write(client, job)):
            self._count(dropped=1)  # the previous one was still waiting for the writer

    def close(self, *, completed: bool = True) -> None:
        """Nothing to release: a snapshot still queued is written (or dropped) by the outbox's owner."""

    # ------------------------------------------------------------------------------------------------ writer thread
    def _write(self, client: Any, job: _Job) -> None:
        """Render and write ``job`` (in the outbox's thread). Redis connection errors propagate (the outbox keeps the
        job for its retry, where it is dropped as stale unless Redis came back at once); anything else is counted
        as dropped and logged, so a bad snapshot never stops the stream messages."""
        if self._clock() - job.taken_mono > self._stale_s:
            self._count(dropped=1)
            return
        try:
            gids = read_global_ids(client, self._keys, self.camera, [lid for lid, _ in job.boxes])
            jpeg, width, height = render_snapshot(job.image, job.boxes, gids, f"{self.camera}  frame {job.frame_index}",
                                                  self.cfg.max_width_px, self.cfg.jpeg_quality)
            write_snapshot(client, self._keys, self.camera,
                           Snapshot(jpeg, job.ts, self._wall_clock(), job.frame_index, width, height), self.cfg.ttl_s)
        except OUTAGE_ERRORS:
            raise
        except Exception as exc:  # a refused write (e.g. Redis out of memory) or a failed encode: drop this one
            self._count(dropped=1)
            now = self._clock()
            if now - self._last_warn >= _WARN_EVERY_S:
                self._last_warn = now
                logger.warning("camera %s: snapshot not written (%s: %s); the next one is tried in %.1f s",
                               self.camera, type(exc).__name__, redact(str(exc)), self.cfg.interval_s)
            return
        self._count(written=1)

    def _count(self, *, written: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self._written += written
            self._dropped += dropped
