"""The JSON the API answers (pydantic models, so /openapi.json documents every field). Times are camera time in
seconds unless the name says ``unix``; boxes are ``[x1, y1, x2, y2]`` pixels; ground positions metres."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["CameraStatus", "CameraList", "IdentityItem", "IdentityList", "TrackItem", "TrajectoryPointItem",
           "IdentityDetailItem", "VisibleTrackItem", "CameraNowItem", "FieldOfView", "PositionItem",
           "HeatmapItem", "SiteMap", "ErrorItem"]


class ErrorItem(BaseModel):
    detail: str = Field(description="What was wrong and how to fix it.")


class CameraStatus(BaseModel):
    name: str
    state: str = Field(description="From the worker's heartbeat: starting, running, source-down, stale (heartbeat "
                                   "expired), stopped, failed; no-heartbeat when the camera never sent one.")
    alive: bool = Field(description="The worker's heartbeat has not expired.")
    fps_in: float | None = None
    fps_out: float | None = None
    frames_dropped: int | None = None
    source_reconnects: int | None = None
    last_error: str = Field("", description="Redacted: credentials never appear.")
    last_seen_unix: float | None = Field(None, description="Unix time of the latest heartbeat.")
    heartbeat_age_s: float | None = None
    last_ts: float | None = Field(None, description="Camera time of the latest frame the hub applied.")
    last_frame: int | None = None
    visible: int = Field(0, description="Tracks in the camera now (see /api/cameras/{name}/now).")
    calibrated: bool = False
    snapshot_url: str | None = Field(None, description="The latest annotated frame, when a worker publishes one.")
    snapshot_age_s: float | None = Field(None, description="Seconds since the snapshot was published.")
    snapshot_frame: int | None = None


class CameraList(BaseModel):
    cameras: list[CameraStatus]
    now_unix: float


class IdentityItem(BaseModel):
    gid: int
    first_ts: float
    last_ts: float
    cameras: list[str]
    last_camera: str
    n_tracks: int
    merged_into: int | None = None
    thumbnail_url: str | None = Field(None, description="The newest thumbnail, when one is kept.")


class IdentityList(BaseModel):
    total: int = Field(description="Identities that pass the filters (all pages).")
    limit: int
    offset: int
    items: list[IdentityItem]


class TrackItem(BaseModel):
    camera: str
    local_id: int
    gid: int | None
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    box_xyxy: list[float] | None
    confidence: float
    thumbnails: list[str] = Field(description="URLs of the track's JPEG thumbnails, newest first.")


class TrajectoryPointItem(BaseModel):
    ts: float
    camera: str
    local_id: int
    frame: int
    box_xyxy: list[float]
    confidence: float
    ground_xy_m: list[float] | None = Field(None, description="Metres on the ground plane (calibrated cameras).")


class IdentityDetailItem(BaseModel):
    gid: int
    first_ts: float
    last_ts: float
    duration_s: float
    cameras: list[str]
    merged_into: int | None = None
    tracks: list[TrackItem]
    trajectory: list[TrajectoryPointItem]
    thumbnails: list[str] = Field(description="All thumbnail URLs of the identity, newest tracks first.")


class VisibleTrackItem(BaseModel):
    local_id: int
    gid: int | None = Field(description="None while the hub still defers the decision.")
    last_ts: float
    last_frame: int
    box_xyxy: list[float] | None
    confidence: float


class CameraNowItem(BaseModel):
    camera: str
    window_s: float
    tracks: list[VisibleTrackItem]


class FieldOfView(BaseModel):
    camera: str
    polygon_m: list[list[float]] = Field(description="The ground the camera sees, [[x, y], ...] metres.")


class PositionItem(BaseModel):
    gid: int
    xy_m: list[float]


class HeatmapItem(BaseModel):
    since_ts: float | None
    until_ts: float | None
    cell_m: float
    peak: int = Field(description="Most position samples in one cell.")
    cells: list[list[float]] = Field(description="[x_m, y_m, count] per non-empty cell (lower-left corner).")


class SiteMap(BaseModel):
    fields_of_view: list[FieldOfView]
    positions: list[PositionItem]
    heatmap: HeatmapItem
