"""The web console's pages in a real headless Chromium (`/usr/bin/chromium`, Debian's package, installed by
.ci/install-system-deps.sh), with JavaScript running, against `mctrack ui` over a Redis filled by a real replay.
Screenshots (laptop and phone widths) are kept in tests/artifacts/ui/ (git-ignored) for a look by eye."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import httpx
import pytest
import redis
from paths import REPO
from ui_helpers import CAMERAS, start_ui

ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else "")
# --timeout stops loading after this long and then dumps/screenshots what the page shows: the live-events page
# keeps its stream open, so waiting for the network to go idle (--virtual-time-budget) would never end.
LOAD_MS = 4000

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (apt-get install -y chromium, or "
                                                      ".ci/install-system-deps.sh)")


def _chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--mute-audio",
           f"--user-data-dir={tmp / 'chromium-profile'}", f"--timeout={LOAD_MS}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def browser(ui_site, tmp_path_factory):
    proc = start_ui(ui_site)
    tmp = tmp_path_factory.mktemp("chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def dom(path: str) -> str:
        done = _chromium(tmp, proc.base_url + path, "--dump-dom")
        assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
        return done.stdout

    def shot(path: str, name: str, size: str = "1280,900") -> Path:
        out = ARTIFACTS / f"{name}.png"
        out.unlink(missing_ok=True)
        done = _chromium(tmp, proc.base_url + path, f"--screenshot={out}", f"--window-size={size}")
        assert out.exists(), done.stderr[-2000:]
        img = cv2.imread(str(out))
        assert img is not None and img.shape[1] == int(size.split(",")[0]) and img.std() > 10, "a blank screenshot"
        return out

    yield proc, dom, shot
    assert proc.stop() == 0, proc.log


def test_camera_wall(browser):
    proc, dom, shot = browser
    html = dom("/")
    for cam in CAMERAS:
        assert f'id="cam-{cam}"' in html
        assert f'src="/api/cameras/{cam}/snapshot.jpg?f=40"' in html
    assert len(re.findall(r'class="age[^"]*"[^>]*>\d+\.\d s old<', html)) == 2, "each snapshot shows its age"
    assert 'state-running' in html and 'state-source-down' in html
    assert "hunter2pw" not in html
    shot("/", "wall")
    shot("/", "wall-phone", "390,844")


def test_identities_list_and_identity_page(browser):
    proc, dom, shot = browser
    listing = httpx.get(proc.base_url + "/api/identities").json()
    html = dom("/identities")
    shown = [int(g) for g in re.findall(r'data-gid="(\d+)"', html)]
    assert shown == [i["gid"] for i in listing["items"]] and shown
    assert f'<small id="total">{listing["total"]}</small>' in html
    assert html.count('/thumbnails/0.jpg"') == sum(1 for i in listing["items"] if i["thumbnail_url"])
    shot("/identities", "identities")
    shot("/identities", "identities-phone", "390,844")
    multi = max(listing["items"], key=lambda i: (len(i["cameras"]), i["n_tracks"]))
    detail = httpx.get(f"{proc.base_url}/api/identities/{multi['gid']}").json()
    page = dom(f"/identities/{multi['gid']}")
    assert f'data-gid="{multi["gid"]}"' in page and f"Identity #{multi['gid']}" in page
    assert ", ".join(detail["cameras"]) in page
    assert page.count('class="bar"') == len(detail["tracks"]), "one timeline bar per track"
    assert page.count('alt="cam') == len(detail["thumbnails"]), "every crop, grouped by camera"
    assert 'class="path"' in page and page.count('class="fov"') == len(CAMERAS)
    shot(f"/identities/{multi['gid']}", "identity")


def test_site_map(browser):
    proc, dom, shot = browser
    site = httpx.get(proc.base_url + "/api/map").json()
    html = dom("/map")
    assert html.count('class="fov"') == len(site["fields_of_view"]) == len(CAMERAS)
    assert html.count('class="heat"') == len(site["heatmap"]["cells"]) > 0
    # the markers were drawn by the page and redrawn by map.js from /api/positions
    assert html.count('class="person"') == len(site["positions"]) > 0
    for p in site["positions"]:
        assert f">#{p['gid']}</text>" in html
    shot("/map", "map")
    assert dom("/map?window_s=1").count('class="heat"') < html.count('class="heat"')


def test_live_events_page_fills_from_the_stream(browser, ui_site):
    """The page lists the newest events (ui.events_backlog) and goes on from the newest one over SSE (the live
    part is tested over HTTP in test_ui_api.py: a dumped DOM is taken at the load event, before a stream's
    events are guaranteed to arrive)."""
    proc, dom, shot = browser
    client = redis.Redis.from_url(ui_site.redis_url)
    events = client.xrevrange("mctrack:v1:events", count=50)
    client.close()
    html = dom("/events")
    items = re.findall(r'<li class="event event-(\w+)" data-id="([\d-]+)"', html)
    assert len(items) == len(events) > 0, "the backlog of events is listed"
    assert items == [(f[b"kind"].decode(), i.decode()) for i, f in events], "newest first"
    assert f'data-after="{events[0][0].decode()}"' in html
    newest_gid = events[0][1][b"gid"].decode()
    assert f'href="/identities/{newest_gid}">#{newest_gid}</a>' in html
    shot("/events", "events")
