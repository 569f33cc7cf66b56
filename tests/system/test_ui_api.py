"""`mctrack ui` as a real process over a Redis filled by a real two-camera replay (tests/system/conftest.py):
every API endpoint over HTTP, the pages' status codes, metrics, read-only, and the token rule."""

from __future__ import annotations

import json
import threading
import time

import cv2
import httpx
import numpy as np
import pytest
import redis
from ui_helpers import CAMERAS, UiProcess, run_ui_expecting_exit, start_ui

from tracker.bus.schema import Keys


@pytest.fixture(scope="module")
def ui(ui_site):
    proc = start_ui(ui_site)
    yield proc
    assert proc.stop() == 0, proc.log
    assert "hunter2pw" not in proc.log


@pytest.fixture(scope="module")
def http(ui):
    with httpx.Client(base_url=ui.base_url, timeout=30.0) as client:
        yield client


def _all_identities(http: httpx.Client, **params: str) -> dict:
    r = http.get("/api/identities", params={"limit": "500", **params})
    assert r.status_code == 200, r.text
    return r.json()


def _is_jpeg(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.size > 0
    return img


def test_cameras_show_heartbeats_hub_state_and_snapshots(http):
    body = http.get("/api/cameras").json()
    cams = {c["name"]: c for c in body["cameras"]}
    assert set(cams) == set(CAMERAS)
    cam1, cam2 = cams["cam1"], cams["cam2"]
    assert cam1["state"] == "running" and cam1["alive"] and cam1["fps_out"] == 6.5 and cam1["frames_dropped"] == 3
    assert cam2["state"] == "source-down" and "timeout" in cam2["last_error"]
    for cam in cams.values():
        assert cam["last_frame"] == 40 and cam["calibrated"]
        assert cam["snapshot_url"] == f"/api/cameras/{cam['name']}/snapshot.jpg"
        assert 0 <= cam["snapshot_age_s"] < 3600
        assert cam["heartbeat_age_s"] >= 0 and cam["last_seen_unix"] <= body["now_unix"]
    assert sum(c["visible"] for c in cams.values()) > 0
    page = http.get("/api/cameras").text + http.get("/").text
    assert "hunter2pw" not in page and "viewer:***@" in http.get("/api/cameras").text


def test_identities_are_paged_newest_first_with_a_total(http):
    everything = _all_identities(http)
    items, total = everything["items"], everything["total"]
    assert total == len(items) >= 4, "the replay's first 40 frames show several people"
    last = [i["last_ts"] for i in items]
    assert last == sorted(last, reverse=True)
    paged = []
    for offset in range(0, total + 3, 3):
        page = http.get("/api/identities", params={"limit": 3, "offset": offset}).json()
        assert page["total"] == total and page["limit"] == 3 and page["offset"] == offset
        assert len(page["items"]) == max(0, min(3, total - offset))
        paged += page["items"]
    assert [i["gid"] for i in paged] == [i["gid"] for i in items]
    assert len(http.get("/api/identities").json()["items"]) == min(total, 50)  # ui.page_size
    for params, code, words in (({"limit": 0}, 400, "limit = 0 is out of range"),
                                ({"limit": 501}, 400, "allowed 1 <= limit <= 500"),
                                ({"offset": -1}, 400, "offset = -1"),
                                ({"limit": "many"}, 422, "integer"),
                                ({"since": "yesterday"}, 400, "since = 'yesterday' is not a time"),
                                ({"since": "5", "until": "1"}, 400, "before"),
                                ({"camera": "cam 1"}, 400, "camera")):
        r = http.get("/api/identities", params=params)
        assert r.status_code == code, (params, r.text)
        assert words in r.text, (params, r.text)


def test_identity_filters_camera_since_until(http):
    everything = _all_identities(http)["items"]
    for cam in CAMERAS:
        got = _all_identities(http, camera=cam)
        expected = [i["gid"] for i in everything if cam in i["cameras"]]
        assert [i["gid"] for i in got["items"]] == expected and got["total"] == len(expected) > 0
    assert _all_identities(http, camera="nocam")["total"] == 0
    firsts = sorted(i["first_ts"] for i in everything)
    cut = firsts[len(firsts) // 2] + 0.0005  # between milliseconds: the API rounds times to 1 ms
    since = _all_identities(http, since=str(cut))
    assert [i["gid"] for i in since["items"]] == [i["gid"] for i in everything if i["last_ts"] >= cut]
    until = _all_identities(http, until=str(cut))
    expected = [i["gid"] for i in everything if i["first_ts"] <= cut]
    assert [i["gid"] for i in until["items"]] == expected and 0 < until["total"] < len(everything)
    both = _all_identities(http, since=str(cut), until=str(cut), camera="cam1")
    assert [i["gid"] for i in both["items"]] == [i["gid"] for i in everything if i["first_ts"] <= cut <= i["last_ts"]
                                                 and "cam1" in i["cameras"]]


def test_identity_detail_and_thumbnails(http):
    items = _all_identities(http)["items"]
    multi = max(items, key=lambda i: (len(i["cameras"]), i["n_tracks"]))
    detail = http.get(f"/api/identities/{multi['gid']}").json()
    assert detail["gid"] == multi["gid"] and detail["cameras"] == multi["cameras"]
    assert detail["duration_s"] == pytest.approx(detail["last_ts"] - detail["first_ts"], abs=0.002)
    assert {t["camera"] for t in detail["tracks"]} == set(detail["cameras"])
    points = detail["trajectory"]
    assert points and all(len(p["box_xyxy"]) == 4 for p in points)
    assert [p["ts"] for p in points] == sorted(p["ts"] for p in points)
    assert any(p["ground_xy_m"] is not None for p in points), "both cameras are calibrated"
    assert len(http.get(f"/api/identities/{multi['gid']}", params={"max_points": 2}).json()["trajectory"]) == 2
    assert detail["thumbnails"], "the replay keeps thumbnails"
    assert sum(len(t["thumbnails"]) for t in detail["tracks"]) == len(detail["thumbnails"])
    for url in detail["thumbnails"][:2] + [u for t in detail["tracks"] for u in t["thumbnails"][:1]]:
        img = _is_jpeg(http.get(url))
        assert img.shape[0] == 64  # hub.thumbnail_height_px
    assert multi["thumbnail_url"] == f"/api/identities/{multi['gid']}/thumbnails/0.jpg"
    n = len(detail["thumbnails"])
    assert http.get(f"/api/identities/{multi['gid']}/thumbnails/{n}.jpg").status_code == 404
    r = http.get("/api/identities/999999")
    assert r.status_code == 404 and "no identity 999999" in r.json()["detail"]
    assert http.get("/api/identities/999999/thumbnails/0.jpg").status_code == 404
    assert http.get("/api/identities/abc").status_code == 422
    assert http.get("/api/identities/0").status_code == 422
    assert http.get("/api/tracks/nocam/1/thumbnails/0.jpg").status_code == 404


def test_who_is_in_a_camera_now_and_its_snapshot(http, ui_site):
    for cam in CAMERAS:
        now = http.get(f"/api/cameras/{cam}/now").json()
        assert now["camera"] == cam and now["window_s"] > 0
        latest = {c["name"]: c["last_ts"] for c in http.get("/api/cameras").json()["cameras"]}[cam]
        for t in now["tracks"]:
            assert latest - now["window_s"] <= t["last_ts"] <= latest
            if t["gid"] is not None:
                assert http.get(f"/api/identities/{t['gid']}").status_code == 200
        img = _is_jpeg(http.get(f"/api/cameras/{cam}/snapshot.jpg"))
        cap = cv2.VideoCapture(str(ui_site.tmp / f"{cam}.mp4"))
        assert img.shape[:2] == (int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
        cap.release()
    assert sum(len(http.get(f"/api/cameras/{c}/now").json()["tracks"]) for c in CAMERAS) > 0
    r = http.get("/api/cameras/nocam/now")
    assert r.status_code == 404 and "cam1, cam2" in r.json()["detail"]
    assert http.get("/api/cameras/nocam/snapshot.jpg").status_code == 404
    assert http.get("/api/cameras/bad%20cam/now").status_code == 400


def test_site_map_fields_of_view_positions_and_heatmap(http):
    site = http.get("/api/map").json()
    assert sorted(f["camera"] for f in site["fields_of_view"]) == list(CAMERAS)
    assert all(len(f["polygon_m"]) >= 3 for f in site["fields_of_view"])
    assert site["positions"] and site["positions"] == http.get("/api/positions").json()
    heat = site["heatmap"]
    assert heat["cells"] and heat["peak"] >= 1 and heat["cell_m"] == 0.5
    assert max(c[2] for c in heat["cells"]) == heat["peak"]
    short = http.get("/api/map", params={"window_s": 0.5}).json()["heatmap"]
    assert sum(c[2] for c in short["cells"]) < sum(c[2] for c in heat["cells"])
    assert short["until_ts"] - short["since_ts"] == pytest.approx(0.5)
    r = http.get("/api/map", params={"window_s": 5, "since": "1"})
    assert r.status_code == 400 and "either window_s or since/until" in r.text


def _read_events(url: str, n: int, headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                 during: threading.Event | None = None) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    with httpx.stream("GET", url + "/api/events", headers=headers, params=params, timeout=20.0) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event_id = ""
        for line in r.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                out.append((event_id, json.loads(line[6:])))
                if during is not None and len(out) == 1:
                    during.set()
                if len(out) >= n:
                    break
    return out


def test_live_events_over_sse_with_resume(ui, ui_site):
    client = redis.Redis.from_url(ui_site.redis_url)
    stream = Keys("mctrack").events()
    total = client.xlen(stream)
    assert total >= 4
    first = _read_events(ui.base_url, 4, params={"backlog": "4"})
    ids = [i for i, _ in first]
    assert ids == sorted(ids, key=lambda s: tuple(int(x) for x in s.split("-"))) and len(set(ids)) == 4
    assert all(e["kind"] in ("new_identity", "assigned", "corrected", "retired", "track_ended") for _, e in first)
    assert all("gid" in e and "camera" in e for _, e in first)
    newest = [m.decode() for m, _ in reversed(client.xrevrange(stream, count=4))]
    assert ids == newest
    resumed = _read_events(ui.base_url, 2, headers={"Last-Event-ID": ids[1]})
    assert [i for i, _ in resumed] == ids[2:4]
    # a live event (written as the hub would) reaches a connected client
    connected = threading.Event()

    def hub_writes() -> None:
        connected.wait(20)
        time.sleep(0.3)
        client.xadd(stream, {"kind": "assigned", "gid": "1", "camera": "cam1", "local_id": "99", "ts": "9.5"})

    writer = threading.Thread(target=hub_writes)
    writer.start()
    live = _read_events(ui.base_url, 2, params={"backlog": "1"}, during=connected)
    writer.join()
    assert live[1][1] == {"kind": "assigned", "gid": "1", "camera": "cam1", "local_id": "99", "ts": "9.5"}
    client.xdel(stream, live[1][0])
    client.close()


def test_openapi_lists_every_route_and_pages_render(http):
    spec = http.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/api/cameras", "/api/cameras/{name}/now", "/api/cameras/{name}/snapshot.jpg",
                                  "/api/identities", "/api/identities/{gid}",
                                  "/api/identities/{gid}/thumbnails/{n}.jpg",
                                  "/api/tracks/{camera}/{local_id}/thumbnails/{n}.jpg", "/api/map",
                                  "/api/positions", "/api/events"}
    assert all(set(ops) == {"get"} for ops in spec["paths"].values())
    assert "swagger" in http.get("/docs").text.lower()
    gid = _all_identities(http)["items"][0]["gid"]
    for path in ("/", "/identities", f"/identities/{gid}", "/map", "/map?window_s=60", "/events", "/cameras/cam1",
                 "/static/ui.css", "/static/wall.js"):
        assert http.get(path).status_code == 200, path
    assert http.get("/identities/999999").status_code == 404
    assert http.get("/identities?limit=0").status_code == 400
    assert http.get("/cameras/nocam").status_code == 404


def test_read_only_metrics_and_health(http):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = http.request(method, "/api/identities")
        assert r.status_code == 405 and "read-only" in r.text
    assert http.get("/healthz").text == "ok\n"
    http.get("/api/identities/1")
    text = http.get("/metrics").text
    assert 'mctrack_ui_requests_total{route="/api/identities/{gid}",status="200"}' in text
    assert "mctrack_ui_request_latency_seconds_bucket" in text and "mctrack_ui_event_streams" in text
    assert 'route="/api/identities/1"' not in text  # labels are route templates, never ids


def test_refuses_to_listen_off_loopback_without_a_token(ui_site):
    done = run_ui_expecting_exit(ui_site, "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "0.0.0.0" in done.stderr and "MCTRACK_UI_TOKEN" in done.stderr and "Traceback" not in done.stderr
    custom = run_ui_expecting_exit(ui_site, "--host", "0.0.0.0", "--set", "ui.token_env=SITE_UI_TOKEN")
    assert custom.returncode == 2 and "SITE_UI_TOKEN" in custom.stderr


def test_busy_port_is_a_clear_error(ui, ui_site):
    port = ui.base_url.rsplit(":", 1)[1]
    done = run_ui_expecting_exit(ui_site, "--host", "127.0.0.1", "--port", port)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_with_a_token_every_request_needs_it(ui_site):
    token = "t0ken-for-tests-5f1c"
    proc: UiProcess = start_ui(ui_site, "--host", "0.0.0.0", env={"MCTRACK_UI_TOKEN": token})
    try:
        base = proc.base_url.replace("0.0.0.0", "127.0.0.1")
        with httpx.Client(base_url=base, timeout=30.0, follow_redirects=False) as http:
            r = http.get("/api/identities")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert "MCTRACK_UI_TOKEN" in r.json()["detail"]
            assert http.get("/api/identities", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert http.get("/metrics").status_code == 401
            ok = http.get("/api/identities", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and ok.json()["total"] > 0
            assert http.get("/healthz").status_code == 200
            page = http.get("/identities", headers={"Accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/identities"
            assert http.get("/login").status_code == 200
            bad = http.post("/login", content="token=nope&next=/identities",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert bad.status_code == 401
            good = http.post("/login", content=f"token={token}&next=/identities",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert good.status_code == 303 and good.headers["location"] == "/identities"
            cookie = good.cookies.get("mctrack_ui")
            assert cookie and token not in cookie
            assert "httponly" in good.headers["set-cookie"].lower()
            with httpx.Client(base_url=base, timeout=30.0, cookies={"mctrack_ui": cookie}) as browser:
                assert browser.get("/identities").status_code == 200
                assert browser.get("/api/cameras").status_code == 200
    finally:
        assert proc.stop() == 0, proc.log
    assert token not in proc.log


def test_live_event_clients_are_capped(ui_site):
    proc = start_ui(ui_site, "--set", "ui.max_event_streams=1")
    try:
        with httpx.stream("GET", proc.base_url + "/api/events", timeout=20.0) as first:
            assert first.status_code == 200
            lines = first.iter_lines()  # kept: dropping the iterator would close the stream
            assert next(lines) == "retry: 3000"
            second = httpx.get(proc.base_url + "/api/events", timeout=20.0)
            assert second.status_code == 503 and "ui.max_event_streams = 1" in second.json()["detail"]
        deadline = time.monotonic() + 5
        while True:  # the closed stream gives its slot back as soon as the server notices (within a second)
            with httpx.stream("GET", proc.base_url + "/api/events", timeout=20.0) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slot of a closed stream was never given back"
            time.sleep(0.2)
    finally:
        assert proc.stop() == 0, proc.log
