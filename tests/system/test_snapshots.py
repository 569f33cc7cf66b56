"""The web console's camera snapshots against real Redis: the sink (global-id labels, TTL, drop while Redis is
down, back after it), a real worker run and a replay with the hub writing them, the age during a live
``mctrack run`` (benchmarks/snapshot_age.py; product requirement: at most 2 s old), and ``supervisor.start_ui``."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from live_helpers import PYTHON, REPO, make_clip, summary
from redis_server import RedisServer, wait_until

from streams.base import Frame
from tracker.bus.outbox import Outbox
from tracker.bus.schema import Keys
from tracker.bus.snapshot import Snapshot, read_snapshot
from tracker.config import SnapshotsConfig, load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.pipeline.camera import FrameResult
from tracker.pipeline.snapshot_sink import SnapshotSink

pytestmark = pytest.mark.timeout(240)

KEYS = Keys("snaptest")
MAX_AGE_S = 2.0  # product requirement: the camera wall never shows a frame older than this


@pytest.fixture
def server(tmp_path: Path):
    with RedisServer(tmp_path / "redis") as srv:
        yield srv


def _outbox(srv: RedisServer) -> Outbox:
    def factory():
        client = srv.client(socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        return client

    return Outbox(factory, max_messages=100, batch=8, initial_backoff_s=0.05, max_backoff_s=0.2, name="test")


def _frame(index: int, image: np.ndarray) -> tuple[Frame, FrameResult]:
    ts = index / 10.0
    updates = [TrackletUpdate("cam1", 5, index, ts, np.array([100.0, 200.0, 300.0, 500.0]), 0.9),
               TrackletUpdate("cam1", 6, index, ts, np.array([400.0, 100.0, 500.0, 400.0]), 0.8)]
    return Frame("cam1", index, ts, image), FrameResult(index, ts, updates)


def _decode(snap: Snapshot) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "the snapshot is not a decodable JPEG"
    return img


def _scene() -> np.ndarray:
    x = np.linspace(0, 200, 768, dtype=np.float32)[None, :]
    y = np.linspace(0, 50, 576, dtype=np.float32)[:, None]
    grey = (x + y).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def test_sink_writes_a_labelled_snapshot_with_a_ttl_drops_while_redis_is_down_and_resumes(
        server: RedisServer) -> None:
    cfg = SnapshotsConfig(interval_s=0.2, max_width_px=640, jpeg_quality=80, ttl_s=30.0)
    client = server.client()
    client.hset(KEYS.camera_local_to_global("cam1"), "5", 12)  # the hub assigned local 5 -> #12; 6 is pending
    box = _outbox(server).start()
    assert wait_until(lambda: box.put(KEYS.updates("cam1"), {b"n": b"0"}) is None and box.stats().connected, 10)
    sink = SnapshotSink(box, KEYS, "cam1", cfg)
    image = _scene()
    index = 0

    def feed(seconds: float) -> None:
        nonlocal index
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            index += 1
            sink.on_frame(*_frame(index, image))
            time.sleep(0.02)

    feed(1.0)
    assert wait_until(lambda: read_snapshot(client, KEYS, "cam1") is not None, 5)
    snap = read_snapshot(client, KEYS, "cam1")
    assert snap is not None and (snap.width, snap.height) == (640, 480)
    assert abs(time.time() - snap.wall_ts) < 2.0 and 1 <= snap.frame <= index and snap.ts == snap.frame / 10.0
    decoded = _decode(snap)
    assert decoded.shape == (480, 640, 3)
    plain = cv2.resize(image, (640, 480), interpolation=cv2.INTER_LINEAR)
    assert (np.abs(decoded.astype(np.int16) - plain).max(axis=2) > 40).sum() > 500  # boxes and labels drawn
    ttl_ms = client.pttl(KEYS.snapshot("cam1"))
    assert 25_000 < ttl_ms <= 30_000
    written_before = sink.stats().written
    assert 3 <= written_before <= 6 and sink.stats().dropped == 0  # 1 s at 0.2 s

    server.kill()
    box.put(KEYS.updates("cam1"), {b"n": b"0"})  # the worker's next frame message: the outbox notices the outage
    assert wait_until(lambda: not box.stats().connected, 10)
    dropped_before = sink.stats().dropped
    feed(1.0)
    st = sink.stats()
    assert st.dropped - dropped_before >= 4 and st.written == written_before  # due, dropped, never buffered
    server.start()
    assert wait_until(lambda: box.stats().connected or (feed(0.1) or False), 15)
    feed(1.0)
    assert wait_until(lambda: sink.stats().written > written_before, 5)
    back = read_snapshot(server.client(), KEYS, "cam1")
    assert back is not None and abs(time.time() - back.wall_ts) < 2.0 and back.frame > snap.frame
    box.close(5)


def test_worker_run_publishes_snapshots(tmp_path: Path, server: RedisServer, model_overrides: list[str],
                                        dev_dir: Path) -> None:
    from tracker.service.worker import EXIT_OK, run_worker

    clip = make_clip(dev_dir, tmp_path / "clip.mp4", frames=30, camera="full/cam1")  # 768x576
    cfg = load_config(None, model_overrides + ["redis.key_prefix=snapw", "snapshots.interval_s=0.1",
                                               "snapshots.max_width_px=640", "snapshots.ttl_s=20"])
    t_start = time.time()
    result = run_worker(cfg, "cam1", str(clip), redis_url=server.url, metrics_port=0)
    assert result.exit_code == EXIT_OK and result.frames_processed == 30
    client = server.client()
    snap = read_snapshot(client, Keys("snapw"), "cam1")
    assert snap is not None, "the worker wrote no snapshot"
    assert (snap.width, snap.height) == (640, 480) and _decode(snap).shape == (480, 640, 3)
    assert t_start <= snap.wall_ts <= time.time() and 1 <= snap.frame <= 30
    assert 0 < client.pttl(Keys("snapw").snapshot("cam1")) <= 20_000


def test_replay_with_the_hub_writes_snapshots(tmp_path: Path, model_overrides: list[str], dev_dir: Path) -> None:
    from tracker.hub.session import HubSession
    from tracker.offline.replay import CameraSpec, run_replay

    clips = {cam: make_clip(dev_dir, tmp_path / f"{cam}.mp4", frames=20, camera=f"two-cam/{cam}")
             for cam in ("cam1", "cam2")}
    cfg = load_config(None, model_overrides + ["snapshots.interval_s=0.2"])
    session = HubSession.open(cfg, list(clips))
    try:
        run_replay(cfg, [CameraSpec(c, str(p)) for c, p in clips.items()], tmp_path / "out", progress=False,
                   hub_session=session)
        session.drain()
        assert session.outbox is not None and session.outbox.wait_empty(10)
        keys = Keys(cfg.redis.key_prefix)
        assert wait_until(lambda: all(read_snapshot(session.handle.client, keys, c) is not None for c in clips), 10)
        for cam in clips:
            snap = read_snapshot(session.handle.client, keys, cam)
            assert snap is not None and (snap.width, snap.height) == (448, 576)  # narrower than 640: kept
            assert _decode(snap).shape == (576, 448, 3) and 1 <= snap.frame <= 20
            assert session.handle.client.pttl(keys.snapshot(cam)) > 0
    finally:
        session.close()


@pytest.mark.slow
def test_snapshots_stay_at_most_two_seconds_old_during_a_live_run(tmp_path: Path, model_overrides: list[str],
                                                                  dev_dir: Path) -> None:
    """benchmarks/snapshot_age.py: ``mctrack run`` with two cameras played live (768x576 and 448x576, 7 fps),
    default snapshots settings; every camera's snapshot sampled every 0.2 s for 20 s."""
    out = tmp_path / "ages.json"
    work = tmp_path / "work"
    sets = [x for item in model_overrides for x in ("--set", item)]
    proc = subprocess.run([PYTHON, str(REPO / "benchmarks" / "snapshot_age.py"), *sets, "--duration-s", "20",
                           "--period-s", "0.2", "--json", str(out), "--work", str(work)], cwd=REPO,
                          capture_output=True, text=True, timeout=230)
    log = (work / "run.log").read_text(errors="replace")[-3000:] if (work / "run.log").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + log
    summary("snapshot-age: " + " | ".join(line for line in proc.stdout.splitlines()))
    ages = json.loads(out.read_text())["ages"]
    assert set(ages) == {"cam1", "cam2"}
    for cam, st in ages.items():
        assert st["missing"] == 0 and st["samples"] >= 90, (cam, st)
        assert math.isfinite(st["max_s"]) and st["max_s"] <= MAX_AGE_S, (cam, st, log)


def test_supervisor_starts_the_web_console_as_a_child_and_stops_it(tmp_path: Path, server: RedisServer) -> None:
    """``supervisor.start_ui``: ``mctrack run`` runs ``python -m tracker ui --config FILE`` (FILE: the effective
    config, with the Redis URL, private to the user) as a child, reports it in its view and stops it with the
    others. Needs the web console (tracker.ui, another branch): skipped until it is merged."""
    if importlib.util.find_spec("tracker.ui") is None:
        pytest.skip("tracker.ui (the web console, `mctrack ui`) is not on this branch yet: run after the merge")
    import urllib.request

    from live_helpers import start_mctrack, stop_process
    from redis_server import free_port

    from tracker.service.supervisor import child_specs

    cfg = load_config(None, ["supervisor.start_ui=true", "cameras=[{name: a, source: x.mp4}]"])
    assert [(s.kind, s.name) for s in child_specs(cfg)] == [("hub", "hub"), ("worker", "a"), ("ui", "ui")]
    assert [s.name for s in child_specs(load_config(None), only=["ui"])] == ["ui"]
    port = free_port()
    log = tmp_path / "run.log"
    proc = start_mctrack(["run", "--redis-url", server.url, "--only", "ui", "--set", "supervisor.start_ui=true",
                          "--set", f"ui.port={port}", "--set", "supervisor.check_interval_s=0.2"], log)
    client = server.client()

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        assert wait_until(healthy, 60), log.read_text()[-3000:]
        view = json.loads(client.hget("mctrack:v1:supervisor", "ui:ui") or "{}")
        assert view.get("state") == "running" and view.get("pid"), view
        config_files = list(Path(tempfile.gettempdir()).glob("mctrack-run-*/config.yaml"))
        assert any(f.stat().st_mode & 0o077 == 0 for f in config_files)  # the child's config: owner only
    finally:
        code = stop_process(proc)
    assert code == 0, log.read_text()[-3000:]
    assert not healthy()
