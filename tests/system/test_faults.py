"""Fault-injection suite: real worker/hub/supervisor processes, a real redis-server (killed and restarted on the same
port with its append-only data), the real RTSP server (tests/rtsp_server.py) and the real models.

Each test prints one summary line ``<fault>: <figures>`` (run with ``-s`` to see them), e.g.
``redis-restart: 0/1234 updates lost ...``. Worker crashes and hangs under the supervisor are in
tests/test_supervisor.py. Timeouts are short so the suite fits CI on 2 cores.

Tests marked ``slow`` start real worker processes, each loading the real detector and Re-ID (~5 s on 2 cores) and
then running for several seconds of wall-clock time so the fault happens mid-stream; that is the point of the
suite, so they run in CI too (about 90 s for the file).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from live_helpers import (
    CAM_PASSWORD,
    PREFIX,
    PYTHON,
    REDIS_PASSWORD,
    REPO,
    env_with_secrets,
    heartbeat,
    last_heartbeat,
    make_clip,
    site_config,
    start_mctrack,
    stop_process,
    stream_updates,
    summary,
)
from redis_server import RedisServer, wait_until
from rtsp_server import RtspServer, free_port, gst_rtsp_unavailable

from tracker.bus.schema import (
    FrameMessage,
    MalformedMessageError,
    decode_frame,
    encode_frame,
)
from tracker.config import load_config

pytestmark = pytest.mark.timeout(240)

RTSP_UNAVAILABLE = gst_rtsp_unavailable()
needs_rtsp = pytest.mark.skipif(bool(RTSP_UNAVAILABLE), reason=RTSP_UNAVAILABLE or "rtsp ok")
RECOVERY_LIMIT_S = 5.0


@pytest.fixture
def redis_pw(tmp_path: Path):
    with RedisServer(tmp_path / "redis", password=REDIS_PASSWORD) as server:
        yield server


# ------------------------------------------------------------------------------------------------------------ RTSP
@needs_rtsp
@pytest.mark.slow
def test_rtsp_restart_worker_keeps_running_and_publishing(tmp_path: Path, redis_pw: RedisServer, dev_dir: Path,
                                                          model_overrides: list[str]) -> None:
    video = dev_dir / "two-cam" / "cam1" / "video.mp4"
    with RtspServer(video=video, width=448, height=576, fps=7, name="cam", user="viewer",
                    password=CAM_PASSWORD) as rtsp:
        source = f"rtsp://viewer:${{CAM_PW}}@127.0.0.1:{rtsp.port}/cam"
        cfg = site_config(tmp_path / "site.yaml", model_overrides)
        log = tmp_path / "worker.log"
        worker = start_mctrack(["worker", "--camera", "cam1", "--source", source, "--config", str(cfg),
                                "--redis-url", redis_pw.url], log)
        client = redis_pw.client()
        try:
            assert wait_until(lambda: (heartbeat(client, "cam1") or {}).get("frames_processed", 0) >= 5, 90), \
                log.read_text()[-3000:]
            rtsp.stop()
            assert wait_until(lambda: heartbeat(client, "cam1")["state"] == "source-down", 10)
            down = heartbeat(client, "cam1")
            rtsp.start()
            t_back = time.monotonic()
            at_restart = heartbeat(client, "cam1")["frames_processed"]
            assert wait_until(lambda: heartbeat(client, "cam1")["frames_processed"] > at_restart + 2, 15)
            recovered_s = time.monotonic() - t_back
            messages_before = stream_updates(client, "cam1")[0]
            assert wait_until(lambda: stream_updates(client, "cam1")[0] > messages_before, 5)
            hb = heartbeat(client, "cam1")
            assert worker.poll() is None, "the worker must survive the camera restart"
        finally:
            code = stop_process(worker)
    assert code == 0
    assert hb["source_reconnects"] >= 1 and hb["pid"] == worker.pid
    assert recovered_s < RECOVERY_LIMIT_S
    assert "cannot open" in down["last_error"] or "read failed" in down["last_error"] or \
        "no frame" in down["last_error"]
    summary(f"rtsp-restart: worker resumed publishing {recovered_s:.1f} s after the server came back (limit "
            f"{RECOVERY_LIMIT_S:g} s), {hb['source_reconnects']} reconnect(s), 0 crashes, status showed "
            f"'{down['state']}' meanwhile")
    # security: neither password reached the log, the heartbeats or the streams' registry
    text = log.read_text()
    stored = b" ".join(v for v in client.hgetall(f"{PREFIX}:v1:hb:last").values())
    leaks = [s for s in (CAM_PASSWORD, REDIS_PASSWORD) if s in text or s.encode() in stored]
    assert not leaks and "viewer:***@" in text
    summary(f"security: 0 secrets in {len(text.splitlines())} log lines and the heartbeats (camera and Redis "
            f"passwords from the environment, Redis with requirepass)")


# ------------------------------------------------------------------------------------------------------------ Redis
def _redis_outage_run(tmp_path: Path, server: RedisServer, dev_dir: Path, model_overrides: list[str],
                      outbox_max: int, outage_s: float) -> tuple[dict[str, Any], tuple[int, int], float, str]:
    """A worker on a realtime clip; Redis is killed once frames flow and restarted ``outage_s`` later."""
    clip = make_clip(dev_dir, tmp_path / "clip.mp4", frames=70)
    cfg = site_config(tmp_path / "site.yaml", model_overrides, source={"realtime": True},
                      worker={"outbox_max_messages": outbox_max})
    log = tmp_path / "worker.log"
    worker = start_mctrack(["worker", "--camera", "cam1", "--source", str(clip), "--fps", "10", "--config",
                            str(cfg), "--redis-url", server.url], log)
    client = server.client()
    assert wait_until(lambda: stream_updates(client, "cam1")[0] >= 5, 90), log.read_text()[-3000:]
    server.kill()
    time.sleep(outage_s)
    server.start()
    t_back = time.monotonic()
    client = server.client()
    assert wait_until(lambda: (heartbeat(client, "cam1") or {}).get("redis_reconnects", 0) >= 1, 20)
    back_s = time.monotonic() - t_back
    assert worker.wait(60) == 0, log.read_text()[-3000:]
    return last_heartbeat(client, "cam1"), stream_updates(client, "cam1"), back_s, log.read_text()


@pytest.mark.slow
def test_redis_restart_loses_no_update_below_the_buffer_bound(tmp_path: Path, redis_pw: RedisServer,
                                                              dev_dir: Path, model_overrides: list[str]) -> None:
    hb, (messages, updates), back_s, log = _redis_outage_run(tmp_path, redis_pw, dev_dir, model_overrides,
                                                                outbox_max=3000, outage_s=2.5)
    assert hb["state"] == "stopped" and hb["redis_reconnects"] >= 1 and hb["outbox_dropped"] == 0
    assert messages == hb["messages_put"] == hb["messages_sent"]
    assert updates == hb["updates_put"] > 0
    flushed = re.search(r"Redis is reachable again; flushing (\d+) buffered", log)
    assert flushed is not None
    summary(f"redis-restart: {hb['updates_put'] - updates}/{hb['updates_put']} updates lost "
            f"({hb['messages_put'] - messages}/{hb['messages_put']} messages), 2.5 s outage (SIGKILL), "
            f"{flushed.group(1)} buffered messages flushed, reconnected and beating {back_s:.1f} s after Redis was "
            f"back")


@pytest.mark.slow
def test_redis_outage_above_the_bound_drops_are_counted_and_logged(tmp_path: Path, redis_pw: RedisServer,
                                                                   dev_dir: Path,
                                                                   model_overrides: list[str]) -> None:
    bound = 5
    hb, (messages, _), _, log = _redis_outage_run(tmp_path, redis_pw, dev_dir, model_overrides, outbox_max=bound,
                                                  outage_s=3.0)
    assert hb["outbox_dropped"] > 0
    assert messages == hb["messages_put"] - hb["outbox_dropped"]  # every missing message is a counted drop
    assert "outbox full" in log
    summary(f"redis-overflow: {hb['outbox_dropped']}/{hb['messages_put']} messages dropped above the bound "
            f"(worker.outbox_max_messages = {bound}) during a 3 s outage; all counted and logged, "
            f"{messages} delivered")


@pytest.mark.slow
def test_hub_restart_resumes_from_its_consumer_group(tmp_path: Path, dev_dir: Path,
                                                     model_overrides: list[str]) -> None:
    """The hub process is SIGKILLed mid-run; the supervisor restarts it; it resumes from the consumer group."""
    from tracker.hub.consumer import Hub

    with RedisServer(tmp_path / "redis") as server:
        clip = make_clip(dev_dir, tmp_path / "clip.mp4", frames=70)
        cfg_path = site_config(tmp_path / "site.yaml", model_overrides, source={"realtime": True},
                               hub={"trim_processed": False, "lock_ttl_s": 1.0, "block_ms": 50},
                               supervisor={"restart_initial_backoff_s": 0.2, "check_interval_s": 0.2},
                               cameras=[{"name": "cam1", "source": str(clip), "fps": 10}])
        log = tmp_path / "run.log"
        hub_sup = start_mctrack(["run", "--config", str(cfg_path), "--redis-url", server.url, "--only", "hub"],
                                tmp_path / "hub.log")
        client = server.client()
        worker = start_mctrack(["worker", "--camera", "cam1", "--config", str(cfg_path), "--redis-url",
                                server.url], log)
        try:
            stats_key = f"{PREFIX}:v1:hub:stats"
            assert wait_until(lambda: int(client.hget(stats_key, "messages") or 0) >= 10, 90), \
                (tmp_path / "hub.log").read_text()[-3000:]
            old_pid = heartbeat(client, "hub", "hub")["pid"]
            os.kill(old_pid, signal.SIGKILL)
            t_kill = time.monotonic()
            assert wait_until(lambda: (lambda hb: hb is not None and hb["pid"] != old_pid
                                       and hb["state"] == "running")(heartbeat(client, "hub", "hub")), 60)
            back_s = time.monotonic() - t_kill
            assert worker.wait(60) == 0
            published = stream_updates(client, "cam1")[0]
            assert wait_until(lambda: int(client.hget(stats_key, "messages") or 0) >= published, 30)
            time.sleep(0.5)
        finally:
            stop_process(worker)
            assert stop_process(hub_sup) == 0
        handled = int(client.hget(stats_key, "messages"))
        groups = client.xinfo_groups(f"{PREFIX}:v1:cam:cam1:updates")
        l2g = {int(k): int(v) for k, v in client.hgetall(f"{PREFIX}:v1:cam:cam1:l2g").items()}
        events = [f for _, f in client.xrange(f"{PREFIX}:v1:events")]
        created = [int(f[b"gid"]) for f in events if f[b"kind"] == b"new_identity"]
        identities = client.zcard(f"{PREFIX}:v1:ids:first")
        # reference: an uninterrupted hub over a copy of the same messages under another prefix
        ref_cfg = load_config(None, ["redis.key_prefix=ref", "hub.trim_processed=false"])
        for msg_id, fields in client.xrange(f"{PREFIX}:v1:cam:cam1:updates"):
            client.xadd("ref:v1:cam:cam1:updates", fields, id=msg_id)
        client.sadd("ref:v1:cameras", "cam1")
        ref = Hub(client, ref_cfg)
        ref.start()
        ref.drain()
        ref.close()
        ref_identities = client.zcard("ref:v1:ids:first")
    assert handled == published, "every published message handled exactly once"
    assert groups[0]["pending"] == 0
    assert len(created) == len(set(created)) == identities, "each identity created once"
    assert set(l2g.values()) <= set(created)
    summary(f"hub-restart: {published - handled}/{published} messages lost, 0 duplicated identities "
            f"({identities} identities, uninterrupted reference {ref_identities}); hub SIGKILLed mid-run, back "
            f"and running {back_s:.1f} s later (supervisor restart + leader lock)")


# ------------------------------------------------------------------------------------------------------------ bad input
def test_bad_input_gives_clear_messages_and_exit_codes(tmp_path: Path, dev_dir: Path, redis_pw: RedisServer,
                                                       model_overrides: list[str]) -> None:
    clip = make_clip(dev_dir, tmp_path / "clip.mp4", frames=3)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: 2000])
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("worker: [unclosed\n")
    base = ["worker", "--camera", "cam1", "--redis-url", redis_pw.url]
    models = [a for m in model_overrides for a in ("--set", m)]
    cases: list[tuple[str, list[str], str]] = [
        ("unknown key", base + ["--source", str(clip), "--set", "worker.heartbeat_s=1"], "did you mean"),
        ("wrong type", base + ["--source", str(clip), "--set", "worker.outbox_max_messages=lots"],
         "must be an integer"),
        ("out of range", base + ["--source", str(clip), "--set", "supervisor.hung_after_s=-1"], "out of range"),
        ("malformed yaml", base + ["--source", str(clip), "--config", str(bad_yaml)], "not valid YAML"),
        ("missing model", base + ["--source", str(clip)] + models + ["--set", "detector.weights=/nope/m.onnx"],
         "detector.weights"),
        ("non-video file", base + ["--source", str(not_video)] + models, "not a readable video"),
        ("truncated video", base + ["--source", str(truncated)] + models, "video"),
        ("missing file", base + ["--source", str(tmp_path / "none.mp4")] + models, "does not exist"),
        ("bad redis url", ["status", "--redis-url", "http://127.0.0.1:1"], "unsupported scheme"),
        ("unreachable redis", ["status", "--redis-url", f"redis://127.0.0.1:{free_port()}"], "cannot reach Redis"),
        ("bad camera list", ["run", "--set", "cameras=[{name: 'a b', source: x}]"], "cameras[0].name"),
    ]
    results = []
    for what, args, expect in cases:
        proc = subprocess.run([PYTHON, "-m", "tracker", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=120, env=env_with_secrets())
        out = proc.stdout + proc.stderr
        results.append((what, proc.returncode, expect in out, "Traceback" not in out))
        assert proc.returncode == 2, f"{what}: exit {proc.returncode}\n{out[-2000:]}"
        assert expect in out, f"{what}: expected {expect!r} in\n{out[-2000:]}"
        assert "Traceback" not in out, f"{what}: crashed\n{out[-2000:]}"
    summary(f"bad-input: {sum(r[1] == 2 and r[2] and r[3] for r in results)}/{len(cases)} cases exit 2 with a "
            f"message naming the problem, 0 tracebacks ({', '.join(r[0] for r in results)})")


@pytest.mark.slow
def test_unreachable_camera_url_keeps_the_worker_up_and_visible(tmp_path: Path, redis_pw: RedisServer,
                                                                model_overrides: list[str]) -> None:
    cfg = site_config(tmp_path / "site.yaml", model_overrides)
    url = f"rtsp://viewer:${{CAM_PW}}@127.0.0.1:{free_port()}/nothing-here"
    log = tmp_path / "worker.log"
    worker = start_mctrack(["worker", "--camera", "cam9", "--source", url, "--config", str(cfg), "--redis-url",
                            redis_pw.url], log)
    client = redis_pw.client()
    try:
        assert wait_until(lambda: "cannot open" in (heartbeat(client, "cam9") or {}).get("last_error", ""), 90), \
            log.read_text()[-3000:]
        hb = heartbeat(client, "cam9")
    finally:
        code = stop_process(worker)
    assert code == 0 and hb["state"] == "source-down" and CAM_PASSWORD not in log.read_text()
    summary(f"unreachable-camera: worker stays up in state '{hb['state']}', retrying with backoff; status shows "
            f"\"{hb['last_error'][:60]}...\"; clean exit 0 on SIGTERM")


# ------------------------------------------------------------------------------------------------------------ streams
def _frame(camera: str, index: int, n: int = 2) -> dict[bytes, bytes]:
    rng = np.random.default_rng(index)
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    msg = FrameMessage(camera, index, index / 10.0, np.arange(1, n + 1, dtype=np.int64),
                       np.tile(np.array([[10, 20, 60, 160]], np.float32), (n, 1)) + index,
                       np.full(n, 0.9, np.float32), np.full(n, 0.8, np.float32), np.arange(n, dtype=np.int32),
                       emb / np.linalg.norm(emb, axis=1, keepdims=True))
    return encode_frame(msg)


def test_hub_dead_letters_malformed_and_foreign_messages_and_goes_on(tmp_path: Path) -> None:
    from tracker.hub.consumer import Hub

    cfg = load_config(None, ["hub.min_embeddings=1"])
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        client = server.client()
        stream = f"{PREFIX}:v1:cam:cam1:updates"
        client.sadd(f"{PREFIX}:v1:cameras", "cam1")
        bad = [
            {b"hello": b"world"},                                              # foreign
            {**_frame("cam1", 3), b"n": b"7"},                                 # inconsistent count
            {**_frame("cam1", 4), b"xyxy": b"\x00" * 5},                       # wrong array size
            {**_frame("cam1", 5), b"cam": b"cam2"},                            # wrong camera
            {**_frame("cam1", 6), b"ts": b"nan"},                              # not finite
        ]
        valid = 0
        for i in range(1, 31):
            client.xadd(stream, _frame("cam1", i))
            valid += 1
            if i % 6 == 0:
                client.xadd(stream, bad[i // 6 - 1])
        hub = Hub(client, cfg)
        hub.start()
        hub.drain()
        hub.close()
        dead = client.xrange(f"{PREFIX}:v1:deadletter")
        stats = {k.decode(): int(v) for k, v in client.hgetall(f"{PREFIX}:v1:hub:stats").items()}
    assert len(dead) == len(bad) == stats["dead_letters"]
    assert all(f[b"_error"] for _, f in dead)
    assert stats["messages"] == valid + len(bad) and stats["updates"] == 2 * valid
    summary(f"malformed-messages: {len(dead)}/{len(bad)} malformed or foreign messages dead-lettered with a reason, "
            f"{valid}/{valid} valid messages applied, hub kept running")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([b"schema", b"cam", b"frame", b"ts", b"n", b"ids", b"xyxy", b"conf", b"q",
                                        b"dim", b"emb_idx", b"emb", b"jpg:1", b"other"]),
                       st.binary(max_size=64) | st.sampled_from([b"mctrack.frame.v1", b"cam1", b"0", b"1", b"2",
                                                                 b"-1", b"nan", b"1e308"]),
                       max_size=14))
def test_fuzz_stream_message_decoder_only_raises_malformed(fields: dict[bytes, bytes]) -> None:
    """Whatever a stream holds, decoding returns a FrameMessage or raises MalformedMessageError; never crashes."""
    try:
        msg = decode_frame(fields)
    except MalformedMessageError:
        return
    assert len(msg.local_ids) == len(msg.xyxy) == len(msg.confidence)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_heartbeat_decoder_never_raises(raw: bytes) -> None:
    from tracker.bus.heartbeat import decode_record

    rec = decode_record(raw)
    assert rec is None or isinstance(rec.name, str)
