"""The web console's pure parts: the bind/token rule, the request check, paging and filter parsing, occupancy
binning and the SVG geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.ui.auth import AuthRule, BindRefused, auth_rule, cookie_value, is_loopback, request_allowed
from tracker.ui.heatmap import occupancy_grid
from tracker.ui.pages import safe_next
from tracker.ui.params import ParamError, parse_camera, parse_page, parse_time, parse_window
from tracker.ui.sse import format_event, valid_event_id
from tracker.ui.svg import fit_map, scale_bar_m, timeline_bars


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.org", ""])
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_bind_rule_refuses_public_host_without_token() -> None:
    with pytest.raises(BindRefused, match=r"0\.0\.0\.0.*export MY_TOKEN="):
        auth_rule("0.0.0.0", None, "MY_TOKEN")
    with pytest.raises(BindRefused):
        auth_rule("10.1.2.3", "", "MY_TOKEN")
    assert auth_rule("0.0.0.0", "s3cret", "MY_TOKEN").required
    assert not auth_rule("127.0.0.1", None, "MY_TOKEN").required
    assert auth_rule("127.0.0.1", "s3cret", "MY_TOKEN").required  # a token set is always enforced


def test_request_check() -> None:
    open_rule, rule = AuthRule(None), AuthRule("s3cret")
    assert request_allowed(open_rule, "/api/identities", None, None)
    assert not request_allowed(rule, "/api/identities", None, None)
    assert not request_allowed(rule, "/api/identities", "Bearer wrong", None)
    assert not request_allowed(rule, "/api/identities", "Basic s3cret", None)
    assert request_allowed(rule, "/api/identities", "Bearer s3cret", None)
    assert request_allowed(rule, "/api/identities", "bearer  s3cret ", None)
    assert request_allowed(rule, "/", None, cookie_value("s3cret"))
    assert not request_allowed(rule, "/", None, "s3cret")  # the cookie holds an HMAC, never the token
    assert cookie_value("s3cret") != cookie_value("other") and "s3cret" not in cookie_value("s3cret")
    for path in ("/healthz", "/static/ui.css", "/login"):
        assert request_allowed(rule, path, None, None)
    assert not request_allowed(rule, "/loginx", None, None)
    assert not request_allowed(rule, "/static", None, None)


def test_login_redirect_stays_on_this_site() -> None:
    assert safe_next("/identities/3?x=1") == "/identities/3?x=1"
    for target in (None, "", "http://evil.example/", "//evil.example/", "/\\evil.example", "identities"):
        assert safe_next(target) == "/"


def test_paging() -> None:
    default = parse_page(None, None, 50, 500)
    assert (default.limit, default.offset) == (50, 0)
    page = parse_page(10, 20, 50, 500)
    assert (page.limit, page.offset) == (10, 20)
    with pytest.raises(ParamError, match="allowed 1 <= limit <= 500"):
        parse_page(501, 0, 50, 500)
    with pytest.raises(ParamError, match="limit"):
        parse_page(0, 0, 50, 500)
    with pytest.raises(ParamError, match="offset"):
        parse_page(10, -1, 50, 500)


def test_time_filters() -> None:
    assert parse_time("since", "12.5") == 12.5
    assert parse_time("since", " ") is None and parse_time("since", None) is None
    assert parse_time("since", "2026-12-03T16:20:00Z") == 1796314800.0
    assert parse_time("since", "2026-12-03T16:20:00") == 1796314800.0  # no zone = UTC
    assert parse_time("since", "2026-12-03T17:20:00+01:00") == 1796314800.0
    with pytest.raises(ParamError, match="since = 'yesterday' is not a time"):
        parse_time("since", "yesterday")
    with pytest.raises(ParamError, match="finite"):
        parse_time("until", "nan")
    window = parse_window("1", "2")
    assert (window.since_ts, window.until_ts) == (1.0, 2.0)
    assert parse_window(None, "2").since_ts is None
    with pytest.raises(ParamError, match="until = 1 is before since = 2"):
        parse_window("2", "1")
    assert parse_camera("cam_1") == "cam_1" and parse_camera("") is None
    with pytest.raises(ParamError, match="camera"):
        parse_camera("cam 1")


def test_occupancy_binning() -> None:
    pts = np.array([[0.1, 0.1], [0.2, 0.4], [0.6, 0.1], [1.4, 1.9], [np.nan, 1.0]])
    occ = occupancy_grid(pts, 0.5)
    assert occ.origin_m == (0.0, 0.0) and occ.cell_m == 0.5
    assert occ.counts.shape == (4, 3)  # y 0..2 -> 4 rows, x 0..1.5 -> 3 cols
    assert occ.counts.sum() == 4 and occ.peak == 2
    assert sorted(occ.cells()) == [(0.0, 0.0, 2), (0.5, 0.0, 1), (1.0, 1.5, 1)]
    shifted = occupancy_grid(pts[:4] + [-3.2, 0.0], 0.5)  # cells stay aligned on multiples of the cell size
    assert shifted.origin_m == (-3.5, 0.0)
    assert occupancy_grid(np.zeros((0, 2)), 0.5).peak == 0
    coarse = occupancy_grid(np.array([[0.0, 0.0], [100.0, 100.0]]), 0.1, max_cells=400)
    assert coarse.counts.size <= 400 and coarse.counts.sum() == 2 and coarse.cell_m > 0.1
    with pytest.raises(ValueError, match="cell size"):
        occupancy_grid(pts, 0.0)


def test_map_frame_keeps_scale_and_flips_y() -> None:
    frame = fit_map(np.array([[0.0, 0.0], [10.0, 5.0]]), width_px=420.0, max_height_px=1000.0, pad_px=10.0,
                    margin_m=0.0)
    assert frame.scale_px_per_m == pytest.approx(40.0)
    u0, v0 = frame.uv(0.0, 0.0)
    u1, v1 = frame.uv(10.0, 5.0)
    assert (u0, u1) == (10.0, 410.0)
    assert v1 < v0 and v0 - v1 == pytest.approx(200.0)  # y up on the ground is up in the picture
    assert frame.points_attr([[0.0, 0.0], [10.0, 5.0]]) == f"{u0},{v0} {u1},{v1}"
    assert scale_bar_m(frame, target_px=120.0) == 2.0  # 3 m would be 120 px: the nearest round length is 2 m
    assert scale_bar_m(frame, target_px=400.0) == 10.0
    assert scale_bar_m(frame, target_px=4.0) == 0.1
    tiny = fit_map(np.array([[1.0, 1.0]]), min_span_m=4.0)
    assert tiny.width_px > 0 and tiny.height_px > 0


def test_timeline_bars() -> None:
    rows, bars = timeline_bars([("cam2", 1, 10.0, 20.0), ("cam1", 7, 0.0, 5.0), ("cam1", 9, 20.0, 20.0)], 100.0)
    assert rows == ["cam1", "cam2"]
    assert [(b.row, b.x_px, b.width_px) for b in bars] == [(1, 50.0, 50.0), (0, 0.0, 25.0), (0, 98.0, 2.0)]
    assert timeline_bars([], 100.0) == ([], [])


def test_event_ids_and_format() -> None:
    assert valid_event_id("1700000000000-3") == "1700000000000-3"
    for bad in (None, "", "$", "abc", "1-2-3", "1700000000000-3\nevent: x"):
        assert valid_event_id(bad) is None
    text = format_event("5-1", {"kind": "assigned", "gid": "4"})
    assert text == 'id: 5-1\nevent: identity\ndata: {"kind":"assigned","gid":"4"}\n\n'
