"""What the API and the pages show, read from Redis through :mod:`tracker.hub.queries` and the heartbeats, as the
models of :mod:`tracker.ui.models`. Every function only reads."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import redis

from streams.redact import redact
from tracker.bus.heartbeat import KIND_WORKER, HeartbeatKeys, read_heartbeats
from tracker.bus.replies import as_str
from tracker.bus.schema import Keys
from tracker.config import Config
from tracker.config.calibration import CameraCalibration
from tracker.core.geometry import visible_ground_polygon
from tracker.hub import queries
from tracker.ui.heatmap import occupancy_grid
from tracker.ui.models import (
    CameraNowItem,
    CameraStatus,
    FieldOfView,
    HeatmapItem,
    IdentityDetailItem,
    IdentityItem,
    IdentityList,
    PositionItem,
    SiteMap,
    TrackItem,
    TrajectoryPointItem,
    VisibleTrackItem,
)
from tracker.ui.params import Page, TimeWindow

__all__ = ["Reader", "thumbnail_url", "track_thumbnail_url"]


def thumbnail_url(gid: int, n: int) -> str:
    return f"/api/identities/{gid}/thumbnails/{n}.jpg"


def track_thumbnail_url(camera: str, local_id: int, n: int) -> str:
    return f"/api/tracks/{camera}/{local_id}/thumbnails/{n}.jpg"


def _t(seconds: float) -> float:
    """A time rounded to the millisecond (camera clocks are not finer)."""
    return round(seconds, 3)


def _xyxy(box: tuple[float, float, float, float] | None) -> list[float] | None:
    return [round(v, 1) for v in box] if box is not None else None


@dataclass
class Reader:
    """Reads for one site: a redis-py client, the config (key prefix, windows) and the calibrated cameras."""

    client: redis.Redis
    cfg: Config
    calibrations: Mapping[str, CameraCalibration]

    @property
    def keys(self) -> Keys:
        return Keys(self.cfg.redis.key_prefix)

    def camera_names(self) -> list[str]:
        """Cameras that ever published, those in the config and those with a worker heartbeat."""
        names = set(queries.list_cameras(self.client, self.cfg)) | {c.name for c in self.cfg.cameras}
        for raw in self.client.hkeys(HeartbeatKeys(self.cfg.redis.key_prefix).last()):
            kind, _, name = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition(":")
            if kind == KIND_WORKER and name:
                names.add(name)
        return sorted(names)

    def cameras(self) -> list[CameraStatus]:
        names = self.camera_names()
        now = time.time()
        views = {v.name: v for v in read_heartbeats(self.client, HeartbeatKeys(self.cfg.redis.key_prefix), names)
                 if v.kind == KIND_WORKER}
        states = self.client.hgetall(self.keys.camera_states())
        out = []
        for name in names:
            view = views.get(name)
            rec = view.record if view else None
            state = states.get(name.encode())
            last_ts = last_frame = None
            if state:
                parts = as_str(state).split("|")
                last_ts, last_frame = float(parts[0]), int(parts[1])
            snap = queries.camera_snapshot(self.client, self.cfg, name, with_jpeg=False)
            out.append(CameraStatus(
                name=name, state=view.state if view else "no-heartbeat", alive=bool(view and view.alive),
                fps_in=rec.fps_in if rec else None, fps_out=rec.fps_out if rec else None,
                frames_dropped=rec.frames_dropped if rec else None,
                source_reconnects=rec.source_reconnects if rec else None,
                last_error=redact(rec.last_error) if rec else "",
                last_seen_unix=rec.updated_at if rec else None,
                heartbeat_age_s=round(rec.age_s(now), 3) if rec else None,
                last_ts=None if last_ts is None else _t(last_ts), last_frame=last_frame,
                visible=len(queries.camera_now(self.client, self.cfg, name)),
                calibrated=name in self.calibrations,
                snapshot_url=f"/api/cameras/{name}/snapshot.jpg" if snap else None,
                snapshot_age_s=round(now - snap.wall_ts, 3) if snap else None,
                snapshot_frame=snap.frame if snap else None))
        return out

    def identities(self, page: Page, camera: str | None, window: TimeWindow) -> IdentityList:
        got = queries.identities_page(self.client, self.cfg, page.limit, page.offset, camera, window.since_ts,
                                      window.until_ts)
        items = []
        for s in got.items:
            thumb = self.first_thumbnail(s.gid)
            items.append(IdentityItem(gid=s.gid, first_ts=_t(s.first_ts),
                                      last_ts=_t(s.last_ts), cameras=list(s.cameras),
                                      last_camera=s.last_camera, n_tracks=s.n_tracks, merged_into=s.merged_into,
                                      thumbnail_url=thumb))
        return IdentityList(total=got.total, limit=page.limit, offset=page.offset, items=items)

    def _identity_tracks(self, gid: int) -> list[tuple[str, int, int]]:
        """(camera, local id, thumbnails kept) of the identity's tracks, newest first."""
        detail = queries.identity_detail(self.client, self.cfg, gid, with_trajectory=False)
        if detail is None:
            return []
        tracks = sorted(detail.tracks, key=lambda t: -t.last_ts)
        counts = queries.thumbnail_counts(self.client, self.cfg, [(t.camera, t.local_id) for t in tracks])
        return [(t.camera, t.local_id, n) for t, n in zip(tracks, counts)]

    def first_thumbnail(self, gid: int) -> str | None:
        return thumbnail_url(gid, 0) if any(n for _, _, n in self._identity_tracks(gid)) else None

    def identity_thumbnail(self, gid: int, n: int) -> bytes | None:
        """The identity's ``n``-th thumbnail (0 = newest of its newest track), or None."""
        for camera, lid, count in self._identity_tracks(gid):
            if n < count:
                jpegs = queries.track_thumbnails(self.client, self.cfg, camera, lid)
                return jpegs[n] if n < len(jpegs) else None
            n -= count
        return None

    def track_thumbnail(self, camera: str, local_id: int, n: int) -> bytes | None:
        jpegs = queries.track_thumbnails(self.client, self.cfg, camera, local_id)
        return jpegs[n] if 0 <= n < len(jpegs) else None

    def identity(self, gid: int, max_points: int | None = None) -> IdentityDetailItem | None:
        detail = queries.identity_detail(self.client, self.cfg, gid, max_points=max_points)
        if detail is None:
            return None
        s = detail.summary
        counts = queries.thumbnail_counts(self.client, self.cfg, [(t.camera, t.local_id) for t in detail.tracks])
        tracks = [TrackItem(camera=t.camera, local_id=t.local_id, gid=t.gid, first_ts=_t(t.first_ts),
                            last_ts=_t(t.last_ts),
                            first_frame=t.first_frame, last_frame=t.last_frame, box_xyxy=_xyxy(t.box_xyxy),
                            confidence=t.confidence,
                            thumbnails=[track_thumbnail_url(t.camera, t.local_id, i) for i in range(n)])
                  for t, n in zip(detail.tracks, counts)]
        total_thumbs = sum(counts)
        points = [TrajectoryPointItem(ts=_t(p.timestamp_s), camera=p.camera, local_id=p.local_id, frame=p.frame_index,
                                      box_xyxy=_xyxy(p.xyxy) or [], confidence=p.confidence,
                                      ground_xy_m=list(p.ground_xy_m) if p.ground_xy_m is not None else None)
                  for p in detail.trajectory]
        return IdentityDetailItem(gid=s.gid, first_ts=_t(s.first_ts), last_ts=_t(s.last_ts),
                                  duration_s=_t(max(0.0, s.last_ts - s.first_ts)), cameras=list(s.cameras),
                                  merged_into=s.merged_into, tracks=tracks, trajectory=points,
                                  thumbnails=[thumbnail_url(s.gid, i) for i in range(total_thumbs)])

    def camera_now(self, camera: str) -> CameraNowItem:
        tracks = queries.camera_now(self.client, self.cfg, camera)
        return CameraNowItem(camera=camera, window_s=self.cfg.hub.visible_window_s, tracks=[
            VisibleTrackItem(local_id=t.local_id, gid=t.gid, last_ts=_t(t.last_ts), last_frame=t.last_frame,
                             box_xyxy=_xyxy(t.box_xyxy), confidence=t.confidence) for t in tracks])

    def latest_ts(self) -> float | None:
        """The newest camera time the hub applied, over all cameras."""
        states = self.client.hvals(self.keys.camera_states())
        return max(float(as_str(v).split("|")[0]) for v in states) if states else None

    def fields_of_view(self) -> list[FieldOfView]:
        out = []
        for name, cal in sorted(self.calibrations.items()):
            size = cal.image_size
            if size is None:
                snap = queries.camera_snapshot(self.client, self.cfg, name, with_jpeg=False)
                size = (snap.width, snap.height) if snap and snap.width and snap.height else None
            if size is None:
                continue  # no frame size known: the field of view cannot be drawn
            poly = visible_ground_polygon(cal.image_to_ground, size)
            if len(poly) >= 3:
                out.append(FieldOfView(camera=name, polygon_m=[[round(float(x), 2), round(float(y), 2)]
                                                               for x, y in poly]))
        return out

    def positions_now(self) -> list[PositionItem]:
        positions = queries.ground_positions_now(self.client, self.cfg)
        return [PositionItem(gid=g, xy_m=[round(x, 2), round(y, 2)]) for g, (x, y) in sorted(positions.items())]

    def site_map(self, window: TimeWindow) -> SiteMap:
        """Fields of view, positions now, and the occupancy heatmap over ``window`` (default: the last
        ``ui.heatmap_window_s`` of camera time)."""
        since, until = window.since_ts, window.until_ts
        if since is None and until is None:
            latest = self.latest_ts()
            if latest is not None:
                since, until = latest - self.cfg.ui.heatmap_window_s, latest
        paths = queries.ground_trajectories(self.client, self.cfg, since, until)
        pts = np.concatenate(list(paths.values())) if paths else np.zeros((0, 2))
        occ = occupancy_grid(pts, self.cfg.ui.heatmap_cell_m)
        return SiteMap(
            fields_of_view=self.fields_of_view(), positions=self.positions_now(),
            heatmap=HeatmapItem(since_ts=None if since is None else _t(since),
                                until_ts=None if until is None else _t(until), cell_m=occ.cell_m, peak=occ.peak,
                                cells=[[round(x, 3), round(y, 3), float(c)] for x, y, c in occ.cells()]))
