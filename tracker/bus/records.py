"""The track hash ``trk:<camera>:<local_id>`` (key schema v1): a typed record and its codec.

The hub writes it (:mod:`tracker.hub.consumer`) whenever a track's identity state changes and reads it back on
restart; the read API (:mod:`tracker.hub.queries`) reads it to describe an identity's tracks. Both go through
:func:`encode_track_record` / :func:`decode_track_record`, so the field names and number formats live here only.

Fields (README documents them): ``camera``, ``local_id``, ``first_ts``, ``last_ts`` (camera time, seconds, written
with ``repr`` so they read back exactly), ``first_frame``, ``last_frame``, ``gid`` (empty while pending),
``status`` (``pending`` / ``assigned``), ``assigned_ts`` (empty while pending), ``n_good``, ``n_total``, ``weight``,
``n_good_checked``, ``ended`` (0/1) and, when known, ``box`` (``x1,y1,x2,y2``, pixels), ``conf`` and ``feat``
(the (D,) little-endian float32 quality-weighted embedding sum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tracker.bus.schema import TRACK_ASSIGNED, TRACK_PENDING, format_xyxy, parse_xyxy

__all__ = ["TrackRecord", "encode_track_record", "decode_track_record"]

TrackHashValue = str | int | bytes


@dataclass(frozen=True, eq=False)
class TrackRecord:
    """One camera track as stored in its ``trk:`` hash.

    Attributes:
        camera, local_id: the track (camera id and the camera's local track id).
        first_ts, last_ts: camera time of its first and latest update, seconds.
        first_frame, last_frame: the camera's frame indices of those updates.
        gid: global id; None while the hub defers the decision.
        assigned_ts: camera time of the (last) assignment, seconds; None while pending.
        n_good, n_total: embeddings of good quality / all embeddings received.
        weight: sum of the quality weights in ``feat_sum``.
        n_good_checked: ``n_good`` at the last (re)check of the assignment.
        ended: the track was not updated for ``hub.track_timeout_s``.
        box_xyxy: (4,) float32 latest box in pixels, or None (encode: leave the stored one; decode: none stored).
        confidence: detector score of that box in [0, 1], or None (same convention).
        feat_sum: (D,) float32 quality-weighted sum of unit embeddings, or None (same convention).
    """

    camera: str
    local_id: int
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    gid: int | None
    assigned_ts: float | None
    n_good: int
    n_total: int
    weight: float
    n_good_checked: int
    ended: bool
    box_xyxy: np.ndarray | None = None
    confidence: float | None = None
    feat_sum: np.ndarray | None = None

    @property
    def status(self) -> str:
        return TRACK_PENDING if self.gid is None else TRACK_ASSIGNED


def encode_track_record(rec: TrackRecord) -> dict[str, TrackHashValue]:
    """The HSET mapping of ``rec``. Optional fields that are None are left out (the stored value stays)."""
    fields: dict[str, TrackHashValue] = {
        "camera": rec.camera, "local_id": int(rec.local_id), "first_ts": repr(float(rec.first_ts)),
        "last_ts": repr(float(rec.last_ts)), "first_frame": int(rec.first_frame), "last_frame": int(rec.last_frame),
        "gid": "" if rec.gid is None else int(rec.gid), "status": rec.status,
        "assigned_ts": "" if rec.assigned_ts is None else repr(float(rec.assigned_ts)), "n_good": int(rec.n_good),
        "n_total": int(rec.n_total), "weight": repr(float(rec.weight)), "n_good_checked": int(rec.n_good_checked),
        "ended": int(rec.ended),
    }
    if rec.box_xyxy is not None:
        fields["box"] = format_xyxy(rec.box_xyxy)
    if rec.confidence is not None:
        fields["conf"] = f"{float(rec.confidence):.3f}"
    if rec.feat_sum is not None:
        fields["feat"] = np.asarray(rec.feat_sum, "<f4").tobytes()
    return fields


def decode_track_record(camera: str, local_id: int, h: Mapping[bytes, bytes]) -> TrackRecord:
    """The record in a ``trk:`` hash as HGETALL returns it (bytes keys and values). Missing numeric fields read as
    0, missing optional ones as None.

    Raises:
        ValueError: a field does not parse (not written by this schema version).
    """

    def text(name: str) -> bytes | None:
        v = h.get(name.encode())
        return v if v not in (None, b"") else None

    def f(name: str) -> float:
        v = text(name)
        return float(v) if v is not None else 0.0

    def i(name: str) -> int:
        v = text(name)
        return int(v) if v is not None else 0

    gid, assigned, box, conf = text("gid"), text("assigned_ts"), text("box"), text("conf")
    feat = h.get(b"feat")
    return TrackRecord(
        camera=camera, local_id=int(local_id), first_ts=f("first_ts"), last_ts=f("last_ts"),
        first_frame=i("first_frame"), last_frame=i("last_frame"), gid=int(gid) if gid is not None else None,
        assigned_ts=float(assigned) if assigned is not None else None, n_good=i("n_good"), n_total=i("n_total"),
        weight=f("weight"), n_good_checked=i("n_good_checked"), ended=bool(i("ended")),
        box_xyxy=parse_xyxy(box) if box is not None else None,
        confidence=float(conf) if conf is not None else None,
        feat_sum=np.frombuffer(feat, dtype="<f4").copy() if feat else None,
    )
