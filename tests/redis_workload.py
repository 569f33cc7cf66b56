"""One site's whole use of Redis, for the deployment tests (TLS, ACL, Cluster, Sentinel): camera workers publish
through the write-behind outbox (as ``mctrack worker`` does) with heartbeats, the hub consumes and commits, then
the queries, ``mctrack status``'s read and the MOT export run. Returns a digest to compare deployments by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hub_helpers import Scene

from tracker.bus.connection import RedisHandle, connect
from tracker.bus.heartbeat import HeartbeatKeys, HeartbeatRecord, read_heartbeats, write_heartbeat
from tracker.bus.publisher import TrackletPublisher
from tracker.bus.write_behind import WriteBehindClient, make_outbox
from tracker.config import Config
from tracker.hub import queries
from tracker.hub.consumer import Hub

CAMERAS = ("a", "b")
WHO = {"a": {1: 0, 2: 1}, "b": {11: 1, 12: 2}}


def publish_site(cfg: Config, url: str | None, frames: range, scene: Scene | None = None,
                 on_frame: Callable[[int], None] | None = None) -> int:
    """Publish ``frames`` of a two-camera scene through each camera's outbox (a worker's path), the cameras frame
    by frame in turn; ``on_frame(frame)`` after each frame. Returns the number of tracklet updates Redis confirmed
    (every one: the outboxes must drain and drop nothing)."""
    scene = scene or Scene(3, seed=1)
    image = np.full((120, 200, 3), 128, np.uint8)  # thumbnails too (the hub's list commands)
    keys = HeartbeatKeys(cfg.redis.key_prefix)
    outboxes, writers, pubs, handles = [], [], [], []
    for camera in CAMERAS:
        outbox, camera_handles = make_outbox(cfg, url, camera, on_connect=None)
        outboxes.append(outbox.start())
        handles += camera_handles
        writers.append(WriteBehindClient(outbox))
        pubs.append(TrackletPublisher(writers[-1], cfg, camera))  # type: ignore[arg-type]
    try:
        for f in frames:
            for camera, pub in zip(CAMERAS, pubs):
                ups = [scene.update(camera, lid, person, f, x=40.0 * i) for i, (lid, person) in
                       enumerate(WHO[camera].items())]
                pub.publish(ups, image, frame_index=f, timestamp_s=(f - 1) / 10.0)
            if on_frame is not None:
                on_frame(f)
        for camera, outbox in zip(CAMERAS, outboxes):
            rec = HeartbeatRecord(kind="worker", name=camera, state="running", frames_processed=len(frames))
            outbox.set_latest("heartbeat", lambda client, rec=rec: write_heartbeat(client, keys, rec, 30.0))
        for camera, outbox in zip(CAMERAS, outboxes):
            assert outbox.wait_empty(60.0), f"outbox of camera {camera} did not drain: {outbox.stats()}"
            assert outbox.stats().dropped == 0, outbox.stats()
    finally:
        for outbox in outboxes:
            outbox.close(5.0)
        for h in handles:
            h.close()
    return sum(w.updates_put for w in writers)


def run_hub(handle: RedisHandle, cfg: Config) -> Hub:
    hub = Hub(handle.client, cfg, consumer_name="deploy-test")
    hub.start(wait_s=5.0)
    hub.drain()
    hub.sweep()  # the retention commands too
    return hub


def query_digest(handle: RedisHandle, cfg: Config, out_dir: Path) -> dict[str, object]:
    """Everything the queries return, reduced to comparable values (and the MOT export's bytes)."""
    r = handle.client
    ids = queries.list_identities(r, cfg)
    details = [queries.identity_detail(r, cfg, s.gid) for s in ids]
    paths = queries.export_mot(r, cfg, out_dir)
    gallery = queries.gallery_image(r, cfg, ids[0].gid) if ids else None
    views = read_heartbeats(r, HeartbeatKeys(cfg.redis.key_prefix), list(CAMERAS))
    return {
        "cameras": queries.list_cameras(r, cfg),
        "identities": sorted((s.gid, round(s.first_ts, 3), round(s.last_ts, 3), s.cameras, s.n_tracks) for s in ids),
        "tracks": sorted(len(d.tracks) for d in details if d is not None),
        "l2g": {c: queries.local_to_global(r, cfg, c) for c in CAMERAS},
        "now": {c: len(queries.camera_now(r, cfg, c)) for c in CAMERAS},
        "window": len(queries.identities_in_window(r, cfg, 0.0, 100.0)),
        "events": len(queries.recent_events(r, cfg, 1000)),
        "export": {c: hashlib.sha256(Path(p).read_bytes()).hexdigest() for c, p in sorted(paths.items())},
        "gallery": None if gallery is None else tuple(np.asarray(gallery).shape),
        "workers": sorted(v.name for v in views if v.record is not None),
    }


def run_site(cfg: Config, url: str | None, out_dir: Path, frames: range = range(1, 41)) -> dict[str, object]:
    """Workers publish, the hub consumes everything, queries read it back: the digest of the result."""
    publish_site(cfg, url, frames)
    with connect(cfg.redis, url) as handle:
        hub = run_hub(handle, cfg)
        try:
            digest = query_digest(handle, cfg, out_dir)
        finally:
            hub.close()
    return digest
