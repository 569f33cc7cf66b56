"""Fixtures shared by the system tests of the web console (tests/system/test_ui_*.py)."""

from __future__ import annotations

import time

import cv2
import pytest
from live_helpers import make_clip
from redis_server import RedisServer
from ui_helpers import CAMERAS, SECRET_SOURCE, UiSite

from tracker.bus.heartbeat import HeartbeatKeys, HeartbeatRecord, write_heartbeat
from tracker.bus.schema import Keys
from tracker.cli import main

UI_CLIP_FRAMES = 40  # 5.7 s of both two-cam videos: about 10 identities, 20 s of replay on 2 cores
PREFIX = "mctrack"


@pytest.fixture(scope="session")
def ui_site(tmp_path_factory, dev_dir, detector_weights, reid_weights, reid_cache_dir):
    """A real Redis filled by a real replay of the first frames of pets-s2l1-dev/two-cam through the workers and
    the hub, with ground positions (calibration.yaml), plus what live processes would add: worker heartbeats
    (cam2's with a last error holding a camera password) and the camera wall's snapshots."""
    tmp = tmp_path_factory.mktemp("ui-site")
    setup = dev_dir / "two-cam"
    with RedisServer(tmp / "redis", appendonly=False) as server:
        clips = {cam: make_clip(dev_dir, tmp / f"{cam}.mp4", UI_CLIP_FRAMES, camera=f"two-cam/{cam}")
                 for cam in CAMERAS}
        rc = main(["replay", *sum((["--camera", f"{c}={p}"] for c, p in clips.items()), []), "--out",
                   str(tmp / "out"), "--no-progress", "--redis-url", server.url, "--calibration",
                   str(setup / "calibration.yaml"), "--set", f"detector.weights={detector_weights}",
                   "--set", f"reid.weights={reid_weights}", "--set", f"reid.cache_dir={reid_cache_dir}",
                   "--set", "hub.thumbnail_every_s=0.5"])
        assert rc == 0
        client = server.client()
        hb = HeartbeatKeys(PREFIX)
        write_heartbeat(client, hb, HeartbeatRecord("worker", "cam1", state="running", fps_in=7.0, fps_out=6.5,
                                                    frames_dropped=3, source=str(clips["cam1"])), 3600.0)
        write_heartbeat(client, hb, HeartbeatRecord("worker", "cam2", state="source-down", source=SECRET_SOURCE,
                                                    last_error=f"cannot open {SECRET_SOURCE}: timeout"), 3600.0)
        keys = Keys(PREFIX)
        for cam, clip in clips.items():
            cap = cv2.VideoCapture(str(clip))
            ok, image = cap.read()
            cap.release()
            assert ok
            jpeg = cv2.imencode(".jpg", image)[1].tobytes()
            client.hset(keys.snapshot(cam), mapping={"jpeg": jpeg, "ts": (UI_CLIP_FRAMES - 1) / 7.0,
                                                     "wall_ts": time.time(), "frame": UI_CLIP_FRAMES,
                                                     "width": image.shape[1], "height": image.shape[0]})
            client.expire(keys.snapshot(cam), 3600)
        client.close()
        yield UiSite(server.url, setup / "calibration.yaml", tmp)
