"""The JSON API (``/api/...``), documented by FastAPI at ``/docs`` and ``/openapi.json`` and in docs/api.md."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from tracker.telemetry.metrics import ProcessMetrics
from tracker.ui.models import (
    CameraList,
    CameraNowItem,
    ErrorItem,
    IdentityDetailItem,
    IdentityList,
    PositionItem,
    SiteMap,
)
from tracker.ui.params import ParamError, TimeWindow, parse_camera, parse_page, parse_window
from tracker.ui.reads import Reader
from tracker.ui.sse import event_stream, valid_event_id

__all__ = ["api_router", "known_camera", "site_window"]

_ERRORS: dict[int | str, dict[str, object]] = {400: {"model": ErrorItem, "description": "A bad parameter."},
                                               404: {"model": ErrorItem, "description": "Unknown id or camera."}}
_JPEG: dict[int | str, dict[str, object]] = {200: {"content": {"image/jpeg": {}}, "description": "A JPEG picture."},
                                             **_ERRORS}
_Since = Annotated[str | None, Query(description="Keep identities seen at or after this time: camera seconds (Unix "
                                                 "time for live cameras) or ISO-8601 (2026-12-03T16:20:00Z).")]
_Until = Annotated[str | None, Query(description="Keep identities first seen at or before this time (as `since`).")]
_Gid = Annotated[int, Path(ge=1, description="Global identity id.")]
_N = Annotated[int, Path(ge=0, description="Thumbnail index, 0 = newest.")]


def known_camera(reader: Reader, name: str) -> str:
    """``name`` when it is a camera of this site; else HTTP 400 (not a camera id) or 404 (unknown)."""
    try:
        camera = parse_camera(name)
    except ParamError as exc:
        raise HTTPException(400, str(exc)) from None
    if camera is None or camera not in reader.camera_names():
        names = ", ".join(reader.camera_names()) or "(none yet)"
        raise HTTPException(404, f"no camera {name!r} here: the cameras are {names}")
    return camera


def site_window(reader: Reader, since: str | None, until: str | None, window_s: float | None) -> TimeWindow:
    """The map's time window: ``since``/``until``, or the last ``window_s`` seconds of camera time."""
    if window_s is not None:
        if since or until:
            raise ParamError("give either window_s or since/until, not both")
        latest = reader.latest_ts()
        return TimeWindow(None if latest is None else latest - window_s, latest)
    return parse_window(since, until)


def _jpeg(data: bytes | None, what: str, cache: str = "no-cache") -> Response:
    if data is None:
        raise HTTPException(404, what)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": cache})


class _Slot:
    """One live-events client's place under ``ui.max_event_streams``, given back exactly once."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()


def api_router(reader: Reader, metrics: ProcessMetrics, stop: threading.Event) -> APIRouter:
    cfg = reader.cfg.ui
    router = APIRouter(prefix="/api", tags=["api"])
    slots = threading.BoundedSemaphore(cfg.max_event_streams)

    @router.get("/cameras", response_model=CameraList, summary="Every camera's status")
    def cameras() -> CameraList:
        """Each camera's state from its worker's heartbeat (fps, drops, last error, last seen), the latest frame
        the hub applied, who is visible, and its snapshot's age."""
        return CameraList(cameras=reader.cameras(), now_unix=time.time())

    @router.get("/cameras/{name}/now", response_model=CameraNowItem, responses=_ERRORS, summary="Who is there now")
    def camera_now(name: str) -> CameraNowItem:
        """The camera's tracks updated within `hub.visible_window_s` of its latest frame, with global ids."""
        return reader.camera_now(known_camera(reader, name))

    @router.get("/cameras/{name}/snapshot.jpg", response_class=Response, responses=_JPEG,
                summary="The camera's latest annotated frame")
    def snapshot(name: str) -> Response:
        """The latest annotated frame a worker published (boxes and global ids); 404 when there is none."""
        from tracker.hub.queries import camera_snapshot

        camera = known_camera(reader, name)
        snap = camera_snapshot(reader.client, reader.cfg, camera)
        return _jpeg(snap.jpeg if snap else None, f"camera {camera} has no snapshot (its worker publishes none, or "
                                                  f"it expired)", cache="no-store")

    @router.get("/identities", response_model=IdentityList, responses=_ERRORS, summary="Identities, newest first")
    def identities(limit: Annotated[int | None, Query(description="Page size (default ui.page_size, at most "
                                                                  "ui.max_page_size).")] = None,
                   offset: Annotated[int | None, Query(description="Identities to skip.")] = None,
                   camera: Annotated[str | None, Query(description="Only identities seen by this camera.")] = None,
                   since: _Since = None, until: _Until = None) -> IdentityList:
        """Identities most recently seen first, paged; `total` counts all that pass the filters. `since`/`until`
        keep identities whose time span meets the window."""
        try:
            page = parse_page(limit, offset, cfg.page_size, cfg.max_page_size)
            window = parse_window(since, until)
            cam = parse_camera(camera)
        except ParamError as exc:
            raise HTTPException(400, str(exc)) from None
        return reader.identities(page, cam, window)

    @router.get("/identities/{gid}", response_model=IdentityDetailItem, responses=_ERRORS,
                summary="One identity: cameras, tracks, trajectory")
    def identity(gid: _Gid, max_points: Annotated[int | None, Query(ge=1, description="Only the last N trajectory "
                                                                                      "points.")] = None
                 ) -> IdentityDetailItem:
        """Cameras, time span, tracks (with thumbnail URLs) and the trajectory over all cameras, in pixels and,
        from calibrated cameras, in metres on the ground."""
        item = reader.identity(gid, max_points)
        if item is None:
            raise HTTPException(404, f"no identity {gid}: unknown, or older than hub.retention_s")
        return item

    @router.get("/identities/{gid}/thumbnails/{n}.jpg", response_class=Response, responses=_JPEG,
                summary="An identity's thumbnail")
    def identity_thumbnail(gid: _Gid, n: _N) -> Response:
        """The identity's n-th thumbnail over its tracks, newest track first (see `thumbnails` of the identity)."""
        return _jpeg(reader.identity_thumbnail(gid, n), f"identity {gid} has no thumbnail {n}")

    @router.get("/tracks/{camera}/{local_id}/thumbnails/{n}.jpg", response_class=Response, responses=_JPEG,
                summary="A track's thumbnail")
    def track_thumbnail(camera: str, local_id: Annotated[int, Path(ge=0)], n: _N) -> Response:
        """The track's n-th thumbnail, newest first."""
        cam = known_camera(reader, camera)
        return _jpeg(reader.track_thumbnail(cam, local_id, n), f"track {cam}/{local_id} has no thumbnail {n}")

    @router.get("/map", response_model=SiteMap, responses=_ERRORS, summary="Site map: fields of view, positions, "
                                                                           "occupancy")
    def site_map(since: Annotated[str | None, Query(description="Heatmap window start (as /api/identities).")] = None,
                 until: Annotated[str | None, Query(description="Heatmap window end.")] = None,
                 window_s: Annotated[float | None, Query(gt=0, description="Heatmap over the last N seconds of "
                                                                            "camera time instead.")] = None) -> SiteMap:
        """The calibrated cameras' fields of view on the ground plane, where people are now, and an occupancy
        heatmap (position samples per `ui.heatmap_cell_m` cell) over a time window (default the last
        `ui.heatmap_window_s`)."""
        try:
            window = site_window(reader, since, until, window_s)
        except ParamError as exc:
            raise HTTPException(400, str(exc)) from None
        return reader.site_map(window)

    @router.get("/positions", response_model=list[PositionItem], summary="Where people are now on the ground")
    def positions() -> list[PositionItem]:
        """Each identity's latest ground position seen within `hub.visible_window_s` of the newest camera time
        (calibrated cameras only)."""
        return reader.positions_now()

    @router.get("/events", response_class=StreamingResponse, summary="Live identity events (server-sent events)",
                responses={200: {"content": {"text/event-stream": {}}, "description": "An endless SSE stream."}})
    def events(request: Request,
               last_event_id: Annotated[str | None, Header(description="Resume after this event id (browsers send "
                                                                         "it when they reconnect).")] = None,
               after: Annotated[str | None, Query(description="Start after this event id (a page that rendered the "
                                                              "events up to it); Last-Event-ID wins.")] = None,
               backlog: Annotated[int | None, Query(ge=0, le=10000, description="Newest events sent first when not "
                                                                                 "resuming (default "
                                                                                 "ui.events_backlog).")] = None
               ) -> StreamingResponse:
        """The hub's identity events as they happen (`event: identity`, `id:` = the Redis stream id, `data:` =
        the event's fields as JSON), resumable with `Last-Event-ID`."""
        from tracker.bus.schema import Keys

        if not slots.acquire(blocking=False):
            raise HTTPException(503, f"too many live-events clients (ui.max_event_streams = {cfg.max_event_streams}): "
                                     f"close some pages or raise the limit")
        resume = valid_event_id(last_event_id) or valid_event_id(after)
        chunks = event_stream(reader.client, Keys(reader.cfg.redis.key_prefix), resume,
                              cfg.events_backlog if backlog is None else backlog, cfg.sse_keepalive_s, stop)

        slot = _Slot(slots)

        async def body() -> AsyncIterator[str]:
            # each step of the Redis reader runs in a worker thread and returns within a second, so a closed client
            # (this generator cancelled) frees its thread and slot promptly
            metrics.ui_event_streams.inc()
            try:
                while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
                    if chunk:
                        yield chunk
                    elif await request.is_disconnected():
                        break
            finally:
                chunks.close()
                metrics.ui_event_streams.dec()
                slot.release()

        stream = body()
        weakref.finalize(stream, slot.release)  # also when the stream never started (client gone at once)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return router
