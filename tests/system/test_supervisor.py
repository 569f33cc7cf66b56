"""``mctrack run``: child layout, and real supervised processes (crash, hang, restart cap, embedded Redis).

The process tests print summary lines like the fault suite (``worker-crash: ...``, ``worker-hang: ...``).
They are marked ``slow``: each starts the hub and real camera workers (real models, ~5 s to load on 2 cores) and
lets them run long enough to kill and hang them; they run in CI too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from live_helpers import (
    PREFIX,
    PYTHON,
    REPO,
    heartbeat,
    make_clip,
    site_config,
    start_mctrack,
    stop_process,
    summary,
)
from redis_server import RedisServer, wait_until
from rtsp_server import RtspServer, gst_rtsp_unavailable

from tracker.config import ConfigError, load_config
from tracker.service.supervisor import child_specs, metrics_port_for

pytestmark = pytest.mark.timeout(240)

RTSP_UNAVAILABLE = gst_rtsp_unavailable()
needs_rtsp = pytest.mark.skipif(bool(RTSP_UNAVAILABLE), reason=RTSP_UNAVAILABLE or "rtsp ok")


def test_children_are_the_hub_plus_one_worker_per_camera_with_their_own_metrics_ports() -> None:
    cfg = load_config(None, ["cameras=[{name: a, source: x.mp4}, {name: b, source: 'rtsp://h/s', fps: 5}]",
                             "metrics.port=9100"])
    specs = child_specs(cfg)
    assert [(s.kind, s.name, s.metrics_port) for s in specs] == [("hub", "hub", 9101), ("worker", "a", 9102),
                                                                 ("worker", "b", 9103)]
    assert specs[2].fps == 5.0 and specs[2].source == "rtsp://h/s"
    assert [s.name for s in child_specs(cfg, only=["b"])] == ["b"]
    assert metrics_port_for(0, 3) == 0  # metrics off stays off
    with pytest.raises(ConfigError, match="--only"):
        child_specs(cfg, only=["nope"])
    with pytest.raises(ConfigError, match="cameras is empty"):
        child_specs(load_config(None))


@needs_rtsp
@pytest.mark.slow
def test_supervisor_restarts_dead_and_hung_workers_and_caps_restarts(tmp_path: Path, dev_dir: Path,
                                                                     model_overrides: list[str]) -> None:
    video = dev_dir / "two-cam" / "cam1" / "video.mp4"
    with RedisServer(tmp_path / "redis") as server, \
            RtspServer(video=video, width=448, height=576, fps=7, name="cam") as rtsp:
        cams = [{"name": "c1", "source": rtsp.url}, {"name": "c2", "source": rtsp.url}]
        cfg_path = site_config(tmp_path / "site.yaml", model_overrides, cameras=cams,
                               supervisor={"hung_after_s": 4.0, "restart_initial_backoff_s": 0.5,
                                           "check_interval_s": 0.2, "max_restarts": 1})
        log = tmp_path / "run.log"
        sup = start_mctrack(["run", "--config", str(cfg_path), "--redis-url", server.url], log)
        client = server.client()

        def running(name: str, not_pid: int = -1) -> bool:
            hb = heartbeat(client, name)
            return hb is not None and hb["state"] == "running" and hb["pid"] != not_pid

        def sup_view() -> dict[str, dict]:
            return {k.decode(): json.loads(v) for k, v in client.hgetall(f"{PREFIX}:v1:supervisor").items()}

        def status() -> subprocess.CompletedProcess[str]:
            return subprocess.run([PYTHON, "-m", "tracker", "status", "--config", str(cfg_path), "--redis-url",
                                   server.url], cwd=REPO, capture_output=True, text=True, timeout=60)

        hung_pid = None
        try:
            assert wait_until(lambda: running("c1") and running("c2"), 120), log.read_text()[-3000:]
            c1, c2 = heartbeat(client, "c1"), heartbeat(client, "c2")
            # crash: SIGKILL one worker; it comes back, the other goes on
            os.kill(c1["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            assert wait_until(lambda: running("c1", c1["pid"]), 60)
            crash_s = time.monotonic() - t0
            c2_now = heartbeat(client, "c2")
            assert c2_now["pid"] == c2["pid"] and c2_now["frames_processed"] > c2["frames_processed"]
            # hang: SIGSTOP the other one; its heartbeat goes stale, it is killed and restarted
            hung_pid = c2["pid"]
            os.kill(hung_pid, signal.SIGSTOP)
            t0 = time.monotonic()
            assert wait_until(lambda: running("c2", hung_pid), 60)
            hang_s = time.monotonic() - t0
            healthy = status()
            # cap: c1 already used its one restart; killed again it stays down, the others keep running
            c1_again = heartbeat(client, "c1")
            os.kill(c1_again["pid"], signal.SIGKILL)
            assert wait_until(lambda: sup_view()["worker:c1"]["state"] == "failed", 30)
            c2_before = heartbeat(client, "c2")["frames_processed"]
            assert wait_until(lambda: heartbeat(client, "c2")["frames_processed"] > c2_before + 3, 10)
            degraded = status()
            view = sup_view()
        finally:
            code = stop_process(sup, timeout_s=60)
            if hung_pid is not None:
                try:
                    os.kill(hung_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    for name in ("hub:hub", "worker:c1", "worker:c2"):
        assert name in healthy.stdout
    assert degraded.returncode == 1 and "failed" in degraded.stdout
    assert view["worker:c1"]["restarts"] == 1 and view["worker:c2"]["restarts"] == 1
    assert view["hub:hub"]["restarts"] == 0 and view["hub:hub"]["state"] == "running"
    assert code == 1  # a child failed for good
    assert "giving up on it" in log.read_text()
    summary(f"worker-crash: SIGKILLed worker running again {crash_s:.1f} s later (model load included), the other "
            f"camera kept running (same pid, frames {c2['frames_processed']} -> {c2_now['frames_processed']})")
    summary(f"worker-hang: SIGSTOPped worker detected by its stale heartbeat (supervisor.hung_after_s = 4), killed "
            f"and running again {hang_s:.1f} s after the hang began; hub never restarted")
    summary("restart-cap: a worker killed again after its 1 allowed restart (supervisor.max_restarts = 1) stays "
            "'failed' in `mctrack status` (exit 1); the other camera and the hub kept running")


@pytest.mark.slow
def test_embedded_redis_is_shared_and_finished_files_end_the_run(tmp_path: Path, dev_dir: Path,
                                                                 model_overrides: list[str]) -> None:
    """redis.url empty: one embedded Redis for all children; workers whose file ended are done (exit 0)."""
    clips = [make_clip(dev_dir, tmp_path / f"c{i}.mp4", frames=12, camera=f"two-cam/cam{i}") for i in (1, 2)]
    cfg_path = site_config(tmp_path / "site.yaml", model_overrides,
                           cameras=[{"name": f"c{i}", "source": str(c)} for i, c in zip((1, 2), clips)],
                           redis={"url": "", "embedded_dir": str(tmp_path / "embedded")})
    log = tmp_path / "run.log"
    proc = start_mctrack(["run", "--config", str(cfg_path)], log)
    try:
        code = proc.wait(120)
    finally:
        stop_process(proc)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "started one embedded Redis for all processes" in text
    for cam in ("c1", "c2"):
        assert f"[{cam}] tracker.service.worker: worker stopped (end of source): 12 frame(s) processed" in text
        assert f"worker:{cam} finished" in text
