"""The server-rendered pages (Jinja2 templates in ``templates/``, plain JavaScript in ``static/``): camera wall,
identities, one identity, site map, live events, and the login form."""

from __future__ import annotations

import hmac
import urllib.parse
from pathlib import Path as FilePath
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tracker.hub.queries import recent_events
from tracker.ui.api import known_camera, site_window
from tracker.ui.auth import COOKIE_NAME, AuthRule, cookie_value
from tracker.ui.params import ParamError, parse_camera, parse_page, parse_window
from tracker.ui.reads import Reader
from tracker.ui.svg import fit_map, scale_bar_m, timeline_bars

__all__ = ["page_router", "TEMPLATES_DIR", "STATIC_DIR", "safe_next"]

TEMPLATES_DIR = FilePath(__file__).parent / "templates"
STATIC_DIR = FilePath(__file__).parent / "static"
_MAX_LOGIN_BODY = 4096


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a local path only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _float(text: str | None) -> float:
    try:
        return float(text or "nan")
    except ValueError:
        return float("nan")


def page_router(reader: Reader, rule: AuthRule) -> APIRouter:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    ui = reader.cfg.ui
    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"ui": ui, "auth": rule.required, **context},
                                          status_code=status_code)

    def bad(request: Request, message: str, code: int = 400) -> HTMLResponse:
        return render(request, "error.html", status_code=code, message=message, nav="")

    @router.get("/", response_class=HTMLResponse)
    def wall(request: Request) -> HTMLResponse:
        return render(request, "wall.html", nav="wall", cameras=reader.cameras())

    @router.get("/identities", response_class=HTMLResponse)
    def identities(request: Request, limit: int | None = None, offset: int | None = None,
                   camera: str | None = None, since: str | None = None, until: str | None = None) -> HTMLResponse:
        try:
            page = parse_page(limit, offset, ui.page_size, ui.max_page_size)
            window = parse_window(since, until)
            cam = parse_camera(camera)
        except ParamError as exc:
            return bad(request, str(exc))
        listing = reader.identities(page, cam, window)
        query = {k: v for k, v in (("camera", cam), ("since", since), ("until", until), ("limit", limit)) if v}

        def link(off: int) -> str:
            return "/identities?" + urllib.parse.urlencode({**query, "offset": off})

        prev_link = link(max(0, page.offset - page.limit)) if page.offset > 0 else None
        next_link = link(page.offset + page.limit) if page.offset + page.limit < listing.total else None
        return render(request, "identities.html", nav="identities", listing=listing, camera=cam or "",
                      since=since or "", until=until or "", cameras=reader.camera_names(), prev_link=prev_link,
                      next_link=next_link)

    @router.get("/identities/{gid}", response_class=HTMLResponse)
    def identity(request: Request, gid: Annotated[int, Path(ge=1)]) -> HTMLResponse:
        item = reader.identity(gid)
        if item is None:
            return bad(request, f"No identity {gid}: unknown, or older than hub.retention_s.", 404)
        rows, bars = timeline_bars([(t.camera, t.local_id, t.first_ts, t.last_ts) for t in item.tracks], 640.0)
        ground = [p.ground_xy_m for p in item.trajectory if p.ground_xy_m is not None]
        fovs = reader.fields_of_view()
        path_map = None
        if ground:
            frame = fit_map(np.array(ground, np.float64), width_px=640.0, max_height_px=480.0)
            bar_m = scale_bar_m(frame)
            path_map = {"frame": frame, "bar_m": bar_m, "bar_px": frame.length_px(bar_m),
                        "path": frame.points_attr(ground), "start": frame.uv(*ground[0]),
                        "end": frame.uv(*ground[-1]),
                        "fovs": [(f.camera, frame.points_attr(f.polygon_m)) for f in fovs]}
        by_camera: dict[str, list[str]] = {}
        for t in sorted(item.tracks, key=lambda t: -t.last_ts):
            by_camera.setdefault(t.camera, []).extend(t.thumbnails)
        return render(request, "identity.html", nav="identities", item=item, rows=rows, bars=bars,
                      path_map=path_map, crops=sorted(by_camera.items()), n_ground=len(ground))

    @router.get("/map", response_class=HTMLResponse)
    def site_map(request: Request, since: str | None = None, until: str | None = None,
                 window_s: Annotated[float | None, Query(gt=0)] = None) -> HTMLResponse:
        try:
            window = site_window(reader, since, until, window_s)
        except ParamError as exc:
            return bad(request, str(exc))
        data = reader.site_map(window)
        # the view covers the people (positions, heatmap); the fields of view only when there is nobody yet
        pts = [p.xy_m for p in data.positions] + [[c[0], c[1]] for c in data.heatmap.cells]
        pts += [[c[0] + data.heatmap.cell_m, c[1] + data.heatmap.cell_m] for c in data.heatmap.cells]
        if not pts:
            pts = [xy for f in data.fields_of_view for xy in f.polygon_m]
        frame = fit_map(np.array(pts, np.float64).reshape(-1, 2))
        cells = [(*frame.uv(c[0], c[1] + data.heatmap.cell_m), c[2] / max(1, data.heatmap.peak), int(c[2]))
                 for c in data.heatmap.cells]
        bar_m = scale_bar_m(frame)
        return render(request, "map.html", nav="map", data=data, frame=frame, cells=cells,
                      bar_m=bar_m, bar_px=frame.length_px(bar_m),
                      cell_px=frame.length_px(data.heatmap.cell_m),
                      fovs=[(f.camera, frame.points_attr(f.polygon_m)) for f in data.fields_of_view],
                      positions=[(p.gid, *frame.uv(p.xy_m[0], p.xy_m[1])) for p in data.positions],
                      since=since or "", until=until or "", window_s=window_s)

    @router.get("/cameras/{name}", response_class=HTMLResponse)
    def camera(request: Request, name: str) -> HTMLResponse:
        try:
            cam = known_camera(reader, name)
        except HTTPException as exc:
            return bad(request, str(exc.detail), exc.status_code)
        status = next(c for c in reader.cameras() if c.name == cam)
        return render(request, "camera.html", nav="wall", camera=status, now=reader.camera_now(cam))

    @router.get("/events", response_class=HTMLResponse)
    def events(request: Request) -> HTMLResponse:
        """The newest ``ui.events_backlog`` events rendered here, newer ones added live by events.js."""
        recent = list(reversed(recent_events(reader.client, reader.cfg, max(1, ui.events_backlog))))
        recent = recent[:ui.events_backlog]
        return render(request, "events.html", nav="events", events=[(i, e, _float(e.get("ts"))) for i, e in recent],
                      after=recent[0][0] if recent else "0-0")

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
        return render(request, "login.html", nav="", next=safe_next(next), failed=False)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """The one POST: check the token typed in the form and set the login cookie (an HMAC of it)."""
        body = (await request.body())[:_MAX_LOGIN_BODY].decode("utf-8", "replace")
        form = urllib.parse.parse_qs(body)
        token = (form.get("token") or [""])[0]
        target = safe_next((form.get("next") or ["/"])[0])
        if not rule.required:
            return RedirectResponse(target, status_code=303)
        assert rule.token is not None
        if not token or not hmac.compare_digest(token.encode(), rule.token.encode()):
            return render(request, "login.html", status_code=401, nav="", next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE_NAME, cookie_value(rule.token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=30 * 86400)
        return response

    return router
