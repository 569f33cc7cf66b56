"""The live worker's parts against a real redis-server: outbox buffering/ordering/dedup, heartbeats, ${VAR}
expansion, and one real worker run (real detector and Re-ID) on a short clip."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from pathlib import Path

import pytest
from live_helpers import make_clip
from redis_server import RedisServer, free_port, wait_until

from tracker.bus.heartbeat import (
    HeartbeatKeys,
    HeartbeatRecord,
    decode_record,
    encode_record,
    read_heartbeats,
    write_heartbeat,
)
from tracker.bus.outbox import Outbox, parse_stream_id
from tracker.config import ConfigError, load_config
from tracker.service.worker import EXIT_FATAL, EXIT_OK, _frames, expand_env, run_worker

pytestmark = pytest.mark.timeout(120)

STREAM = "mctrack:v1:cam:test:updates"
CLIP_FRAMES = 30


@pytest.fixture
def server(tmp_path: Path):
    with RedisServer(tmp_path / "redis") as srv:
        yield srv


def _outbox(srv: RedisServer, max_messages: int = 1000) -> Outbox:
    return Outbox(lambda: _connect(srv), max_messages=max_messages, batch=8,
                  initial_backoff_s=0.05, max_backoff_s=0.2, name="test")


def _connect(srv: RedisServer):
    client = srv.client(socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return client


def _frames_in_stream(srv: RedisServer) -> list[int]:
    return [int(f[b"frame"]) for _, f in srv.client().xrange(STREAM)]


def test_expand_env_substitutes_and_names_missing_variables() -> None:
    env = {"CAM_PW": "s3cret", "HOST": "10.0.0.5"}
    assert expand_env("rtsp://view:${CAM_PW}@${HOST}/s1", env) == "rtsp://view:s3cret@10.0.0.5/s1"
    assert expand_env("/data/video.mp4", env) == "/data/video.mp4"
    with pytest.raises(ConfigError) as err:
        expand_env("rtsp://view:${NOPE}@${HOST}/s1", env)
    assert "NOPE" in str(err.value) and "s3cret" not in str(err.value)


class _SlotSource:
    """A live source's read(timeout_s) contract over a list: each entry is a frame or None (nothing came)."""

    def __init__(self, items: list[object]) -> None:
        self.items = items
        self.timeouts: list[float] = []

    def read(self, timeout_s: float) -> object:
        self.timeouts.append(timeout_s)
        return self.items.pop(0) if self.items else None


def test_live_loop_finishes_frames_in_flight_when_the_camera_has_nothing_ready() -> None:
    """With frames in the pipeline, the loop does not wait for the camera's next frame: a read that finds nothing
    ready yields None at once (not idle), so the worker finishes them; with none in flight it waits a poll."""
    import threading

    source = _SlotSource(["f1", None, "f2", None, None])
    in_flight = iter([False, True, False, True, False])
    frames = _frames(source, threading.Event(), 0.5, lambda: next(in_flight))
    got = [(frame, idle) for frame, _, idle in (next(frames) for _ in range(5))]
    assert got == [("f1", False), (None, False), ("f2", False), (None, False), (None, True)]
    assert source.timeouts == [0.5, 0.0, 0.5, 0.0, 0.5]


def test_outbox_buffers_while_redis_is_down_and_flushes_in_order(server: RedisServer) -> None:
    box = _outbox(server).start()
    for i in range(5):
        box.put(STREAM, {b"frame": str(i).encode()})
    assert box.wait_empty(10)
    server.kill()
    for i in range(5, 60):
        box.put(STREAM, {b"frame": str(i).encode()})
    assert wait_until(lambda: box.stats().redis_errors > 0, 10)
    assert box.stats().depth > 0  # held while Redis is down
    server.start()
    assert box.wait_empty(15)
    st = box.stats()
    box.close(5)
    assert _frames_in_stream(server) == list(range(60))  # nothing lost, nothing doubled, in order
    assert (st.put, st.sent, st.dropped, st.reconnects) == (60, 60, 0, 1)


def test_outbox_drops_the_oldest_above_its_bound_counts_and_logs(server: RedisServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    server.kill()
    box = _outbox(server, max_messages=10).start()
    with caplog.at_level(logging.WARNING, logger="tracker.bus.outbox"):
        for i in range(25):
            box.put(STREAM, {b"frame": str(i).encode()})
    assert box.stats().dropped == 15
    assert any("outbox full" in r.getMessage() for r in caplog.records)
    server.start()
    assert box.wait_empty(15)
    box.close(5)
    assert _frames_in_stream(server) == list(range(15, 25))  # the newest 10 were kept


def test_outbox_ids_stay_above_an_existing_stream_top(server: RedisServer) -> None:
    """A restarted worker (or one whose clock is behind) never loses messages to 'ID equal or smaller' errors."""
    future_ms = int(time.time() * 1000) + 3_600_000
    server.client().xadd(STREAM, {b"frame": b"-1"}, id=f"{future_ms}-5")
    box = _outbox(server).start()
    for i in range(10):
        box.put(STREAM, {b"frame": str(i).encode()})
    assert box.wait_empty(10)
    st = box.stats()
    box.close(5)
    ids = [parse_stream_id(i) for i, _ in server.client().xrange(STREAM)]
    assert len(ids) == 11 and ids == sorted(ids) and ids[1] == (future_ms, 6)
    assert (st.sent, st.dropped, st.duplicates_skipped) == (10, 0, 0)


def test_latest_value_writes_keep_only_the_newest(server: RedisServer) -> None:
    server.kill()
    box = _outbox(server).start()
    for i in range(5):
        box.set_latest("hb", lambda client, i=i: client.set("k", i))
    server.start()
    assert wait_until(lambda: server.client().get("k") == b"4", 10)
    box.close(5)


def test_heartbeat_round_trip_redacts_and_expires(server: RedisServer) -> None:
    keys = HeartbeatKeys("site1")
    rec = HeartbeatRecord(kind="worker", name="cam1", state="source-down", source="rtsp://u:pw@10.0.0.5/s",
                          last_error="cannot open rtsp://u:pw@10.0.0.5/s")
    client = server.client()
    write_heartbeat(client, keys, rec, ttl_s=0.5)
    raw = client.get(keys.alive("worker", "cam1"))
    assert b"pw@" not in raw and b"u:***@" in raw
    back = decode_record(raw)
    assert back is not None and back.state == "source-down" and back.name == "cam1"
    views = read_heartbeats(client, keys, expected_workers=["cam1", "cam2"])
    assert [(v.name, v.alive, v.state) for v in views] == [("cam1", True, "source-down"),
                                                          ("cam2", False, "no-heartbeat")]
    assert wait_until(lambda: not client.exists(keys.alive("worker", "cam1")), 5)
    assert [v.state for v in read_heartbeats(client, keys)] == ["stale"]  # expired: shown as stale, not lost
    assert decode_record(b"not json") is None and decode_record(b"[1, 2]") is None
    assert decode_record(encode_record(rec)) == decode_record(raw)


@pytest.mark.parametrize("problem", ["missing-model", "not-a-video", "missing-env"])
def test_worker_refuses_to_start_with_a_clear_reason(problem: str, tmp_path: Path, server: RedisServer,
                                                     model_overrides: list[str], dev_dir: Path) -> None:
    overrides = list(model_overrides)
    source = str(make_clip(dev_dir, tmp_path / "clip.mp4", frames=3))
    if problem == "missing-model":
        overrides.append(f"detector.weights={tmp_path / 'nope.onnx'}")
        expect = "detector.weights"
    elif problem == "not-a-video":
        source = str(tmp_path / "notes.txt")
        Path(source).write_text("hello, not a video\n")
        expect = "not a readable video"
    else:
        source = "rtsp://viewer:${MCTRACK_TEST_UNSET_VAR}@127.0.0.1/s"
        expect = "MCTRACK_TEST_UNSET_VAR"
    cfg = load_config(None, overrides + ["worker.heartbeat_interval_s=0.2"])
    result = run_worker(cfg, "cam1", source, redis_url=server.url, metrics_port=0)
    assert result.exit_code == EXIT_FATAL and expect in result.reason
    views = read_heartbeats(server.client(), HeartbeatKeys(cfg.redis.key_prefix))
    assert views[0].state == "failed" and expect in views[0].record.last_error


def test_worker_runs_a_clip_end_to_end(tmp_path: Path, server: RedisServer, model_overrides: list[str],
                                       dev_dir: Path) -> None:
    clip = make_clip(dev_dir, tmp_path / "clip.mp4")
    port = free_port()
    cfg = load_config(None, model_overrides + ["worker.heartbeat_interval_s=0.2", "redis.key_prefix=t1"])
    scraped: list[str] = []

    def scrape() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
        if 'stage="detect"' in text:
            scraped.append(text)
            return True
        return False

    import threading

    poller = threading.Thread(target=wait_until, args=(scrape, 60, 0.05), daemon=True)
    poller.start()
    result = run_worker(cfg, "cam1", str(clip), redis_url=server.url, metrics_port=port)
    poller.join(5)
    assert result.exit_code == EXIT_OK and result.reason == "end of source"
    assert result.frames_processed == CLIP_FRAMES
    client = server.client()
    stream = client.xrange("t1:v1:cam:cam1:updates")
    assert len(stream) == result.messages_sent == result.messages_put and result.messages_dropped == 0
    assert client.sismember("t1:v1:cameras", "cam1")
    last = json.loads(client.hget("t1:v1:hb:last", "worker:cam1"))
    assert last["state"] == "stopped" and last["frames_processed"] == CLIP_FRAMES
    assert last["updates_put"] == sum(int(f[b"n"]) for _, f in stream) > 0
    assert scraped and "mctrack_frames_processed_total" in scraped[0]
