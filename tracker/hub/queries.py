"""Read API over the hub's Redis key schema (v1): used by ``mctrack query`` and by replays.

Every function takes a redis-py client and the full :class:`~tracker.config.Config` (for the key prefix and the
hub's windows) and only reads, except :func:`export_mot` (writes files) and :func:`gallery_image` (returns
pixels).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import redis

from tracker.bus.records import decode_track_record
from tracker.bus.replies import as_bytes, member_list, scored_members, stream_entries
from tracker.bus.schema import (
    Keys,
    decode_box_point,
    decode_now_entry,
    parse_track_member,
    parse_xyxy,
    validate_camera_id,
)
from tracker.bus.snapshot import Snapshot, read_snapshot
from tracker.config import Config

__all__ = [
    "IdentitySummary",
    "TrackSummary",
    "TrajectoryPoint",
    "IdentityDetail",
    "VisibleTrack",
    "list_cameras",
    "ground_trajectories",
    "list_identities",
    "identity_detail",
    "camera_now",
    "identities_in_window",
    "local_to_global",
    "track_points",
    "export_mot",
    "gallery_image",
    "recent_events",
    "IdentityPage",
    "identities_page",
    "camera_snapshot",
    "ground_positions_now",
    "track_thumbnails",
    "thumbnail_counts",
]

logger = logging.getLogger(__name__)

GALLERY_LABEL_WIDTH_PX = 90
GALLERY_PAD_PX = 4
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.45
_TEXT_COLOR = (255, 255, 255)
_BACKGROUND = (40, 40, 40)


def _s(v: bytes | str | None) -> str:
    if v is None:
        return ""
    return v.decode() if isinstance(v, bytes) else str(v)


def _f(v: bytes | str | None, default: float = math.nan) -> float:
    return float(v) if v not in (None, b"", "") else default


@dataclass(frozen=True)
class IdentitySummary:
    gid: int
    first_ts: float
    last_ts: float
    cameras: tuple[str, ...]
    last_camera: str
    last_box_xyxy: tuple[float, float, float, float] | None
    n_tracks: int
    merged_into: int | None = None


@dataclass(frozen=True)
class TrackSummary:
    camera: str
    local_id: int
    gid: int | None
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    box_xyxy: tuple[float, float, float, float] | None
    confidence: float


@dataclass(frozen=True)
class TrajectoryPoint:
    timestamp_s: float
    camera: str
    local_id: int
    frame_index: int
    xyxy: tuple[float, float, float, float]
    confidence: float
    ground_xy_m: tuple[float, float] | None = None  # metres on the ground plane (calibrated cameras only)


@dataclass(frozen=True)
class IdentityDetail:
    summary: IdentitySummary
    tracks: tuple[TrackSummary, ...]
    trajectory: tuple[TrajectoryPoint, ...] = field(default=())


@dataclass(frozen=True)
class VisibleTrack:
    camera: str
    local_id: int
    gid: int | None
    last_ts: float
    last_frame: int
    box_xyxy: tuple[float, float, float, float] | None
    confidence: float


def _keys(cfg: Config) -> Keys:
    return Keys(cfg.redis.key_prefix)


def _xyxy_tuple(b: np.ndarray | None) -> tuple[float, float, float, float] | None:
    if b is None:
        return None
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _box(v: bytes | None) -> tuple[float, float, float, float] | None:
    return _xyxy_tuple(parse_xyxy(v)) if v else None


def list_cameras(r: redis.Redis, cfg: Config) -> list[str]:
    """Sorted camera ids that ever published."""
    return sorted(_s(c) for c in r.smembers(_keys(cfg).cameras()))


def _summaries(r: redis.Redis, cfg: Config, gids: list[int]) -> list[IdentitySummary]:
    k = _keys(cfg)
    pipe = r.pipeline(transaction=False)
    for gid in gids:
        pipe.hgetall(k.identity(gid))
        pipe.hkeys(k.identity_cameras(gid))
        pipe.zscore(k.identities_by_last_seen(), gid)
    res = pipe.execute()
    out: list[IdentitySummary] = []
    for gid, h, cams, last in zip(gids, res[0::3], res[1::3], res[2::3]):
        if not h:
            continue
        merged = h.get(b"merged_into")
        last_ts = max(_f(h.get(b"last_ts")), last) if last is not None else _f(h.get(b"last_ts"))
        out.append(IdentitySummary(
            gid=gid, first_ts=_f(h.get(b"first_ts")), last_ts=last_ts,
            cameras=tuple(sorted(_s(c) for c in cams)), last_camera=_s(h.get(b"last_camera")),
            last_box_xyxy=_box(h.get(b"last_box")), n_tracks=int(h.get(b"n_tracks", b"0") or 0),
            merged_into=int(merged) if merged else None))
    return out


def list_identities(r: redis.Redis, cfg: Config, limit: int | None = None) -> list[IdentitySummary]:
    """Identities, most recently seen first (at most ``limit``)."""
    end = -1 if not limit else limit - 1
    gids = [int(g) for g in member_list(r.zrevrange(_keys(cfg).identities_by_last_seen(), 0, end))]
    return _summaries(r, cfg, gids)


def _tracks(r: redis.Redis, cfg: Config, members: list[tuple[str, int]]) -> list[TrackSummary]:
    """Track summaries: the track hash, updated with the live state in cam:<camera>:now for open tracks."""
    k = _keys(cfg)
    pipe = r.pipeline(transaction=False)
    for camera, lid in members:
        pipe.hgetall(k.track(camera, lid))
        pipe.hget(k.camera_now(camera), str(lid))
    res = pipe.execute()
    out: list[TrackSummary] = []
    for (camera, lid), h, live in zip(members, res[0::2], res[1::2]):
        if not h:
            continue
        rec = decode_track_record(camera, lid, h)
        last_ts, last_frame = rec.last_ts, rec.last_frame
        box, conf = _xyxy_tuple(rec.box_xyxy), (rec.confidence if rec.confidence is not None else 0.0)
        if live:
            entry = decode_now_entry(live)
            if entry.last_ts >= last_ts:
                last_ts, last_frame, conf = entry.last_ts, entry.last_frame, entry.confidence
                box = _xyxy_tuple(entry.xyxy)
        out.append(TrackSummary(camera, lid, rec.gid, rec.first_ts, last_ts, rec.first_frame, last_frame, box, conf))
    return sorted(out, key=lambda t: (t.first_ts, t.camera, t.local_id))


def track_points(r: redis.Redis, cfg: Config, camera: str, local_id: int, start_ts: float | None = None,
                 end_ts: float | None = None) -> list[TrajectoryPoint]:
    """The track's stored boxes, oldest first, optionally only within [start_ts, end_ts] (pass the track's time
    span: the camera's trajectory set is shared by all its tracks)."""
    lo = "-inf" if start_ts is None else start_ts
    hi = "+inf" if end_ts is None else end_ts
    out = []
    for member, score in scored_members(r.zrangebyscore(_keys(cfg).camera_boxes(camera), lo, hi, withscores=True)):
        point = decode_box_point(member)
        if point.local_id == local_id:
            x1, y1, x2, y2 = (float(v) for v in point.xyxy)
            out.append(TrajectoryPoint(float(score), camera, local_id, point.frame_index, (x1, y1, x2, y2),
                                       point.confidence, point.ground_xy_m))
    return out


def identity_detail(r: redis.Redis, cfg: Config, gid: int, with_trajectory: bool = True,
                    max_points: int | None = None) -> IdentityDetail | None:
    """One identity: summary, its tracks (camera, local id, time span) and its trajectory (time-ordered boxes
    over all cameras, the last ``max_points``). None if unknown (or expired)."""
    k = _keys(cfg)
    summaries = _summaries(r, cfg, [int(gid)])
    if not summaries:
        return None
    members = sorted(parse_track_member(m) for m in r.smembers(k.identity_tracks(gid)))
    tracks = _tracks(r, cfg, members)
    points: list[TrajectoryPoint] = []
    if with_trajectory:
        for t in tracks:
            points.extend(track_points(r, cfg, t.camera, t.local_id, t.first_ts, t.last_ts))
        points.sort(key=lambda p: (p.timestamp_s, p.camera))
        if max_points:
            points = points[-max_points:]
    return IdentityDetail(summaries[0], tuple(tracks), tuple(points))


def camera_now(r: redis.Redis, cfg: Config, camera: str, window_s: float | None = None) -> list[VisibleTrack]:
    """Tracks of ``camera`` updated within ``window_s`` (default hub.visible_window_s) of its latest frame, with
    their global ids (None while the hub still defers the decision)."""
    validate_camera_id(camera)
    k = _keys(cfg)
    pipe = r.pipeline(transaction=False)
    pipe.hget(k.camera_states(), camera)
    pipe.hgetall(k.camera_now(camera))
    pipe.hgetall(k.camera_local_to_global(camera))
    state, entries, l2g = pipe.execute()
    if not state:
        return []
    last = float(_s(state).split("|")[0])
    window = cfg.hub.visible_window_s if window_s is None else window_s
    out = []
    for lid_raw, value in entries.items():
        e = decode_now_entry(value)
        if e.last_ts < last - window:
            continue
        lid = int(lid_raw)
        gid = l2g.get(lid_raw)
        out.append(VisibleTrack(camera, lid, int(gid) if gid else e.gid, e.last_ts, e.last_frame,
                                _xyxy_tuple(e.xyxy), e.confidence))
    return sorted(out, key=lambda v: (v.gid is None, v.gid or 0, v.local_id))


def identities_in_window(r: redis.Redis, cfg: Config, start_ts: float, end_ts: float) -> list[IdentitySummary]:
    """Identities with a track whose time span meets [start_ts, end_ts] (camera time), earliest first."""
    if end_ts < start_ts:
        raise ValueError(f"time window end {end_ts} is before its start {start_ts}")
    k = _keys(cfg)
    by_last = set(int(g) for g in member_list(r.zrangebyscore(k.identities_by_last_seen(), start_ts, "+inf")))
    by_first = set(int(g) for g in member_list(r.zrangebyscore(k.identities_by_first_seen(), "-inf", end_ts)))
    candidates = sorted(by_last & by_first)
    pipe = r.pipeline(transaction=False)
    for gid in candidates:
        pipe.smembers(k.identity_tracks(gid))
    members_by_gid = {gid: sorted(parse_track_member(m) for m in ms) for gid, ms in zip(candidates, pipe.execute())}
    all_tracks = _tracks(r, cfg, [m for ms in members_by_gid.values() for m in ms])
    seen = {t.gid for t in all_tracks if t.gid is not None and t.first_ts <= end_ts and t.last_ts >= start_ts}
    return sorted(_summaries(r, cfg, sorted(seen)), key=lambda s: (s.first_ts, s.gid))


def local_to_global(r: redis.Redis, cfg: Config, camera: str) -> dict[int, int]:
    """Local track id -> global id for every assigned track of ``camera`` (within retention)."""
    validate_camera_id(camera)
    raw = r.hgetall(_keys(cfg).camera_local_to_global(camera))
    return {int(k): int(v) for k, v in raw.items()}


def ground_trajectories(r: redis.Redis, cfg: Config, start_ts: float | None = None,
                        end_ts: float | None = None) -> dict[int, np.ndarray]:
    """Every identity's path on the ground plane: global id -> (N, 2) float64 metres in time order, from the
    calibrated cameras' stored trajectory points within [start_ts, end_ts] (all when None). Where several cameras
    see the person at one timestamp their positions are averaged. Identities without ground points are left out."""
    lo = "-inf" if start_ts is None else start_ts
    hi = "+inf" if end_ts is None else end_ts
    by_gid: dict[int, dict[float, list[tuple[float, float]]]] = {}
    for camera in list_cameras(r, cfg):
        mapping = local_to_global(r, cfg, camera)
        for member, score in scored_members(r.zrangebyscore(_keys(cfg).camera_boxes(camera), lo, hi,
                                                            withscores=True)):
            point = decode_box_point(member)
            gid = mapping.get(point.local_id)
            if point.ground_xy_m is None or gid is None:
                continue
            by_gid.setdefault(gid, {}).setdefault(float(score), []).append(point.ground_xy_m)
    return {gid: np.array([np.mean(per_ts[ts], axis=0) for ts in sorted(per_ts)], np.float64).reshape(-1, 2)
            for gid, per_ts in sorted(by_gid.items())}


def export_mot(r: redis.Redis, cfg: Config, out_dir: str | os.PathLike[str],
               cameras: list[str] | None = None) -> dict[str, Path]:
    """Write ``<out_dir>/<camera>.txt`` (MOTChallenge rows ``frame,gid,left,top,w,h,conf,-1,-1,-1``, sorted by
    frame then id) for each camera from its stored trajectories (assigned tracks only; one box per frame and
    global id, the most confident). Returns camera -> path."""
    k = _keys(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for camera in cameras if cameras is not None else list_cameras(r, cfg):
        validate_camera_id(camera)
        mapping = local_to_global(r, cfg, camera)
        best: dict[tuple[int, int], tuple[float, float, float, float, float]] = {}
        skipped = 0
        for member in member_list(r.zrange(k.camera_boxes(camera), 0, -1)):
            lid, frame, xyxy, conf, _ = decode_box_point(member)
            gid = mapping.get(lid)
            if gid is None:
                skipped += 1
                continue
            x1, y1, x2, y2 = (float(v) for v in xyxy)
            key = (frame, gid)
            if key not in best or conf > best[key][4]:
                best[key] = (x1, y1, x2 - x1, y2 - y1, conf)
        path = out / f"{camera}.txt"
        tmp = path.with_suffix(".txt.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for (frame, gid), (left, top, w, h, conf) in sorted(best.items()):
                fh.write(f"{frame},{gid},{left:.2f},{top:.2f},{w:.2f},{h:.2f},{conf:.3f},-1,-1,-1\n")
        os.replace(tmp, path)
        written[camera] = path
        logger.info("wrote %s: %d boxes (%d of tracks without a global id left out)", path, len(best), skipped)
    return written


def gallery_image(r: redis.Redis, cfg: Config, gid: int, max_per_camera: int = 8) -> np.ndarray | None:
    """A picture of identity ``gid``: one row per camera (label + up to ``max_per_camera`` thumbnails, newest
    tracks first). (H, W, 3) uint8 BGR, or None when no thumbnail is stored."""
    k = _keys(cfg)
    members = sorted(parse_track_member(m) for m in r.smembers(k.identity_tracks(gid)))
    tracks = sorted(_tracks(r, cfg, members), key=lambda t: -t.last_ts)
    by_camera: dict[str, list[np.ndarray]] = {}
    height = cfg.hub.thumbnail_height_px
    pipe = r.pipeline(transaction=False)
    for t in tracks:
        pipe.lrange(k.track_thumbnails(t.camera, t.local_id), 0, -1)
    for t, jpegs in zip(tracks, pipe.execute()):
        row = by_camera.setdefault(t.camera, [])
        for jpeg in jpegs:
            if len(row) >= max_per_camera:
                break
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                continue
            if img.shape[0] != height:
                w = max(1, int(round(img.shape[1] * height / img.shape[0])))
                img = cv2.resize(img, (w, height))
            row.append(img)
    rows = [(cam, imgs) for cam, imgs in sorted(by_camera.items()) if imgs]
    if not rows:
        return None
    widths = [GALLERY_LABEL_WIDTH_PX + sum(i.shape[1] + GALLERY_PAD_PX for i in imgs) for _, imgs in rows]
    canvas_h = GALLERY_PAD_PX + len(rows) * (height + GALLERY_PAD_PX)
    canvas = np.full((canvas_h, max(widths) + GALLERY_PAD_PX, 3), _BACKGROUND, np.uint8)
    for i, (cam, imgs) in enumerate(rows):
        y = GALLERY_PAD_PX + i * (height + GALLERY_PAD_PX)
        cv2.putText(canvas, f"#{gid} {cam}", (GALLERY_PAD_PX, y + height // 2), _FONT, _FONT_SCALE, _TEXT_COLOR, 1,
                    cv2.LINE_AA)
        x = GALLERY_LABEL_WIDTH_PX
        for img in imgs:
            canvas[y:y + height, x:x + img.shape[1]] = img
            x += img.shape[1] + GALLERY_PAD_PX
    return canvas


def recent_events(r: redis.Redis, cfg: Config, count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """The newest ``count`` identity events, oldest first, as (stream id, fields)."""
    raw = stream_entries(r.xrevrange(_keys(cfg).events(), count=max(1, int(count))))
    return [(_s(msg_id), {_s(k): _s(v) for k, v in fields.items()}) for msg_id, fields in reversed(raw)]


@dataclass(frozen=True)
class IdentityPage:
    """One page of identities, most recently seen first; ``total`` counts every identity that passed the filters."""

    total: int
    items: tuple[IdentitySummary, ...]


def identities_page(r: redis.Redis, cfg: Config, limit: int, offset: int = 0, camera: str | None = None,
                    since_ts: float | None = None, until_ts: float | None = None) -> IdentityPage:
    """Identities most recently seen first, ``limit`` of them from ``offset``, keeping those whose time span
    [first_ts, last_ts] meets [since_ts, until_ts] (camera time; either end open when None) and, with ``camera``,
    those that have a track in that camera (within retention)."""
    if limit < 1 or offset < 0:
        raise ValueError(f"limit must be >= 1 and offset >= 0, got limit={limit}, offset={offset}")
    if since_ts is not None and until_ts is not None and until_ts < since_ts:
        raise ValueError(f"time window end {until_ts} is before its start {since_ts}")
    k = _keys(cfg)
    lo = "-inf" if since_ts is None else since_ts
    gids = [int(g) for g in member_list(r.zrevrangebyscore(k.identities_by_last_seen(), "+inf", lo))]
    if until_ts is not None:
        first = set(int(g) for g in member_list(r.zrangebyscore(k.identities_by_first_seen(), "-inf", until_ts)))
        gids = [g for g in gids if g in first]
    if camera is not None:
        validate_camera_id(camera)
        in_camera = set(int(g) for g in r.hvals(k.camera_local_to_global(camera)))
        gids = [g for g in gids if g in in_camera]
    return IdentityPage(len(gids), tuple(_summaries(r, cfg, gids[offset:offset + limit])))


def camera_snapshot(r: redis.Redis, cfg: Config, camera: str, with_jpeg: bool = True) -> Snapshot | None:
    """The camera's latest published snapshot (``jpeg`` empty when read ``with_jpeg`` False), or None when there is
    none (never published, expired, or malformed)."""
    validate_camera_id(camera)
    return read_snapshot(r, _keys(cfg), camera, with_jpeg=with_jpeg)


def ground_positions_now(r: redis.Redis, cfg: Config, window_s: float | None = None) -> dict[int, tuple[float, float]]:
    """Where people are now on the ground: global id -> (x_m, y_m), the latest ground point of each identity seen
    by a calibrated camera within ``window_s`` (default hub.visible_window_s) of the newest camera time."""
    states = r.hvals(_keys(cfg).camera_states())
    if not states:
        return {}
    latest = max(float(_s(v).split("|")[0]) for v in states)
    window = cfg.hub.visible_window_s if window_s is None else window_s
    paths = ground_trajectories(r, cfg, latest - window, latest)
    return {gid: (float(path[-1, 0]), float(path[-1, 1])) for gid, path in paths.items() if len(path)}


def track_thumbnails(r: redis.Redis, cfg: Config, camera: str, local_id: int) -> list[bytes]:
    """The track's JPEG thumbnails, newest first (empty when none are kept)."""
    validate_camera_id(camera)
    return [as_bytes(j) for j in r.lrange(_keys(cfg).track_thumbnails(camera, local_id), 0, -1)]


def thumbnail_counts(r: redis.Redis, cfg: Config, tracks: list[tuple[str, int]]) -> list[int]:
    """How many thumbnails each (camera, local id) track keeps, in the order given."""
    k = _keys(cfg)
    pipe = r.pipeline(transaction=False)
    for camera, lid in tracks:
        pipe.llen(k.track_thumbnails(camera, lid))
    return [int(n) for n in pipe.execute()] if tracks else []
