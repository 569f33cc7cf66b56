"""``mctrack query`` over a real redis-server: identities, one identity (+ gallery picture), who is in a camera
now, time windows, mapping, events, and the MOTChallenge export round trip."""

from __future__ import annotations

import itertools
import json
import os

import cv2
import numpy as np
import pytest

from tracker.bus.publisher import TrackletPublisher
from tracker.cli import main
from tracker.config import load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub
from tracker.offline.motio import read_mot

DIM = 64
FPS = 5.0
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def world(redis_handle):
    """Camera a: person 0 (local 1) frames 1-20, person 1 (local 2) frames 1-40; camera b: person 1 (local 7)
    frames 21-40, person 2 (local 8) frames 25-40. Returns (prefix, published boxes per camera)."""
    prefix = f"q{os.getpid()}x{next(_prefixes)}"
    cfg = load_config(None, [f"redis.key_prefix={prefix}", "hub.match_threshold=0.5", "hub.track_timeout_s=1",
                             "hub.thumbnails_per_track=2", f"hub.thumbnail_every_s={5 / FPS}"])
    r = redis_handle.client
    rng = np.random.default_rng(0)
    look = rng.normal(size=(3, DIM)) + 0.3
    look /= np.linalg.norm(look, axis=1, keepdims=True)
    image = rng.integers(0, 255, (120, 320, 3), np.uint8)
    pubs = {c: TrackletPublisher(r, cfg, c) for c in ("a", "b")}
    hub = Hub(r, cfg, consumer_name="q")
    published: dict[str, list[tuple[int, int, np.ndarray]]] = {"a": [], "b": []}
    plan = {"a": [(1, 0, 1, 20), (2, 1, 1, 40)], "b": [(7, 1, 21, 40), (8, 2, 25, 40)]}
    for f in range(1, 41):
        for camera, pub in pubs.items():
            ups = []
            for lid, person, start, end in plan[camera]:
                if start <= f <= end:
                    box = np.array([10 + 3 * f + 60 * person, 10, 40 + 3 * f + 60 * person, 90], np.float32)
                    e = look[person] + rng.normal(scale=0.02, size=DIM)
                    ups.append(TrackletUpdate(camera, lid, f, (f - 1) / FPS, box, 0.8,
                                              (e / np.linalg.norm(e)).astype(np.float32), 0.9))
                    published[camera].append((f, lid, box))
            pub.publish(ups, image, frame_index=f, timestamp_s=(f - 1) / FPS)
        hub.step()
    hub.drain()
    hub.close()
    return prefix, published


def query(capsys, redis_handle, prefix: str, *args: str) -> tuple[int, str, str]:
    code = main(["--log-level", "WARNING", "query", *args, "--redis-url", redis_handle.child_url,
                 "--set", f"redis.key_prefix={prefix}"])
    out = capsys.readouterr()
    return code, out.out, out.err


def gids_of(capsys, redis_handle, prefix: str, camera: str) -> dict[int, int]:
    code, out, _ = query(capsys, redis_handle, prefix, "mapping", camera, "--json")
    assert code == 0
    return {int(k): v for k, v in json.loads(out).items()}


def test_identities_and_mapping(capsys, redis_handle, world):
    prefix, _ = world
    a, b = gids_of(capsys, redis_handle, prefix, "a"), gids_of(capsys, redis_handle, prefix, "b")
    assert set(a) == {1, 2} and set(b) == {7, 8}
    assert a[2] == b[7] and len({a[1], a[2], b[8]}) == 3
    code, out, _ = query(capsys, redis_handle, prefix, "identities", "--json")
    items = {i["gid"]: i for i in json.loads(out)}
    assert code == 0 and set(items) == {a[1], a[2], b[8]}
    assert items[a[2]]["cameras"] == ["a", "b"] and items[a[1]]["cameras"] == ["a"]
    assert items[a[2]]["last_ts"] == pytest.approx(39 / FPS)
    assert items[a[1]]["last_ts"] == pytest.approx(19 / FPS)
    code, table, _ = query(capsys, redis_handle, prefix, "identities")
    assert code == 0 and table.splitlines()[0].split()[:3] == ["gid", "first_ts", "last_ts"]


def test_identity_detail_trajectory_and_gallery(capsys, redis_handle, world, tmp_path):
    prefix, published = world
    gid = gids_of(capsys, redis_handle, prefix, "a")[2]
    png = tmp_path / "gallery.png"
    code, out, _ = query(capsys, redis_handle, prefix, "identity", str(gid), "--points", "0", "--json",
                         "--gallery", str(png))
    assert code == 0
    detail = json.loads(out)
    assert [(t["camera"], t["local_id"]) for t in detail["tracks"]] == [("a", 2), ("b", 7)]
    expected = sorted([(f, "a") for f, lid, _ in published["a"] if lid == 2] +
                      [(f, "b") for f, lid, _ in published["b"] if lid == 7])
    assert sorted((p["frame_index"], p["camera"]) for p in detail["trajectory"]) == expected
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] >= 2 * 64  # one row of thumbnails per camera
    code, text, _ = query(capsys, redis_handle, prefix, "identity", str(gid), "--points", "2")
    assert code == 0 and "trajectory (last 2 points)" in text
    code, _, err = query(capsys, redis_handle, prefix, "identity", "999")
    assert code == 1 and "unknown" in err


def test_who_is_in_a_camera_now(capsys, redis_handle, world):
    prefix, _ = world
    a, b = gids_of(capsys, redis_handle, prefix, "a"), gids_of(capsys, redis_handle, prefix, "b")
    code, out, _ = query(capsys, redis_handle, prefix, "camera", "a", "--json")
    assert code == 0 and [(v["local_id"], v["gid"]) for v in json.loads(out)] == [(2, a[2])]  # 1 left at f20
    code, out, _ = query(capsys, redis_handle, prefix, "camera", "b", "--json")
    assert sorted(v["gid"] for v in json.loads(out)) == sorted([b[7], b[8]])
    code, out, _ = query(capsys, redis_handle, prefix, "camera", "nobody", "--json")
    assert code == 0 and json.loads(out) == []


def test_identities_seen_in_a_time_window(capsys, redis_handle, world):
    prefix, _ = world
    a, b = gids_of(capsys, redis_handle, prefix, "a"), gids_of(capsys, redis_handle, prefix, "b")
    code, out, _ = query(capsys, redis_handle, prefix, "window", "--start", "0", "--end", "1", "--json")
    assert code == 0 and sorted(i["gid"] for i in json.loads(out)) == sorted([a[1], a[2]])
    code, out, _ = query(capsys, redis_handle, prefix, "window", "--start", "5.5", "--end", "9", "--json")
    assert sorted(i["gid"] for i in json.loads(out)) == sorted([a[2], b[8]])
    code, _, err = query(capsys, redis_handle, prefix, "window", "--start", "5", "--end", "1")
    assert code == 2 and "before" in err


def test_events_and_cameras(capsys, redis_handle, world):
    prefix, _ = world
    code, out, _ = query(capsys, redis_handle, prefix, "events", "--count", "100", "--json")
    kinds = [e["kind"] for e in json.loads(out)]
    assert code == 0 and kinds.count("new_identity") == 3 and kinds.count("assigned") == 1
    assert "track_ended" in kinds
    code, out, _ = query(capsys, redis_handle, prefix, "cameras", "--json")
    assert json.loads(out) == ["a", "b"]


def test_export_round_trip(capsys, redis_handle, world, tmp_path):
    prefix, published = world
    code, _, _ = query(capsys, redis_handle, prefix, "export", "--out", str(tmp_path / "mot"))
    assert code == 0
    for camera in ("a", "b"):
        mapping = gids_of(capsys, redis_handle, prefix, camera)
        rows = read_mot(tmp_path / "mot" / f"{camera}.txt")
        got = sorted((int(r[0]), int(r[1]), round(float(r[2]), 1), round(float(r[3]), 1),
                      round(float(r[2] + r[4]), 1), round(float(r[3] + r[5]), 1)) for r in rows)
        want = sorted((f, mapping[lid], round(float(b[0]), 1), round(float(b[1]), 1), round(float(b[2]), 1),
                       round(float(b[3]), 1)) for f, lid, b in published[camera])
        assert got == want


def test_export_of_an_empty_prefix_says_so(capsys, redis_handle, tmp_path):
    code, _, err = query(capsys, redis_handle, "nothing-here", "export", "--out", str(tmp_path))
    assert code == 1 and "no camera" in err
