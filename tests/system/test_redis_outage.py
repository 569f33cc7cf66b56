"""Nothing lost when Redis goes away: a replay through an external redis-server (append-only, as deployed) that is
killed a third of the way in and started again finishes with the output of an undisturbed run; a replay whose Redis
never answers exits 2 with one line; a served hub (`mctrack hub`) rides out a restart and processes what is
published during and after it.

Figures print with ``pytest -s``.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_helpers import Scene, make_cfg, run_frames
from live_helpers import REPO, make_clip, summary
from redis_server import RedisServer, free_port, wait_until

from tracker.bus.heartbeat import KIND_HUB, HeartbeatKeys, read_heartbeats
from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import Keys
from tracker.config import Config
from tracker.offline.postprocess import UNMAPPED_ID_BASE

CLIPS = {"a": "full/cam1", "b": "two-cam/cam1", "c": "two-cam/cam2"}
CLIP_FRAMES = 60
OUTAGE_S = 2.0
FAST_RETRY = ["worker.redis_initial_backoff_s=0.1", "worker.redis_max_backoff_s=0.5"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False",
            "PYTHONUNBUFFERED": "1"}


def _sets(*overrides: str) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def _replay_cmd(clips: dict[str, Path], out: Path, sets: list[str], *extra: str) -> list[str]:
    cams = [a for name, clip in clips.items() for a in ("--camera", f"{name}={clip}")]
    return [sys.executable, "-m", "tracker", "replay", *cams, "--out", str(out), "--no-progress", *sets, *extra]


def _rows(out: Path, names: list[str]) -> tuple[int, int]:
    """(MOT rows in OUT/NAME.txt over all cameras, rows among them with a global id from the hub)."""
    rows = mapped = 0
    for name in names:
        for line in (out / f"{name}.txt").read_text().splitlines():
            rows += 1
            mapped += int(line.split(",")[1]) < UNMAPPED_ID_BASE
    return rows, mapped


def _id_agreement(a: Path, b: Path, names: list[str]) -> float:
    """Fraction of rows (same frame and box order in both runs) whose global ids agree under a one-to-one matching
    of run a's ids to run b's (greedy, largest overlaps first)."""
    pairs: collections.Counter[tuple[str, str]] = collections.Counter()
    for name in names:
        rows_a = (a / f"{name}.txt").read_text().splitlines()
        rows_b = (b / f"{name}.txt").read_text().splitlines()
        pairs.update((ra.split(",")[1], rb.split(",")[1]) for ra, rb in zip(rows_a, rows_b))
    used_a: set[str] = set()
    used_b: set[str] = set()
    agreed = 0
    for (ia, ib), n in pairs.most_common():
        if ia not in used_a and ib not in used_b:
            used_a.add(ia)
            used_b.add(ib)
            agreed += n
    return agreed / max(1, sum(pairs.values()))


def _published(client: object, prefix: str, names: list[str]) -> int:
    keys = Keys(prefix)
    return sum(int(client.xlen(keys.updates(n))) for n in names)  # type: ignore[attr-defined]


def _disturbed_replay(server: RedisServer, clips: dict[str, Path], out: Path, sets: list[str],
                      down_s: float = OUTAGE_S) -> tuple[str, float]:
    """Replay ``clips`` through ``server``, SIGKILL it once a third of the frame messages are in and start it again
    ``down_s`` later; returns (the replay's log, the outage's length in seconds)."""
    names = list(clips)
    prefix = out.name
    log = out.with_suffix(".log")
    with open(log, "w") as stream:
        proc = subprocess.Popen(_replay_cmd(clips, out, sets, "--redis-url", server.url, "--set",
                                            f"redis.key_prefix={prefix}"),
                                cwd=REPO, env=_env(), stdout=stream, stderr=subprocess.STDOUT)
    try:
        client = server.client(socket_timeout=2)
        third = len(names) * CLIP_FRAMES // 3
        assert wait_until(lambda: _published(client, prefix, names) >= third, 240, poll_s=0.05), \
            log.read_text()[-3000:]
        server.kill()
        t_kill = time.monotonic()
        time.sleep(down_s)
        server.start()
        outage_s = time.monotonic() - t_kill
        code = proc.wait(300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text
    # The outage is logged where it was met: by the publishers' buffer (always, it writes every frame) and, when a
    # hub step fell inside it, by the hub too.
    assert "Redis unreachable" in text and ("Redis is reachable again" in text
                                           or "Redis reachable again after an outage of" in text), text[-3000:]
    return text, outage_s


def _ridden_out(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if "Redis outages ridden out" in line), "")


@pytest.mark.slow
def test_replay_rides_out_a_redis_restart_with_the_output_of_an_undisturbed_run(tmp_path: Path, dev_dir: Path,
                                                                                model_overrides: list[str]) -> None:
    clips = {n: make_clip(dev_dir, tmp_path / f"{n}.mp4", CLIP_FRAMES, camera=c) for n, c in CLIPS.items()}
    names = list(clips)
    sets = _sets(*model_overrides, *FAST_RETRY)
    with RedisServer(tmp_path / "redis") as server:
        # undisturbed: the same clips through the same server (its own key prefix)
        clean = subprocess.run(_replay_cmd(clips, tmp_path / "clean", sets, "--redis-url", server.url,
                                           "--set", "redis.key_prefix=clean"),
                               cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
        assert clean.returncode == 0, clean.stderr[-3000:]
        assert "Redis unreachable" not in clean.stderr
        text, outage_s = _disturbed_replay(server, clips, tmp_path / "disturbed", sets)
        # a buffer bound below what the outage needs: the oldest messages are dropped, counted and logged. The
        # outage is longer here: the hub step that first meets it may wait out redis-py's own connection retries
        # (a few seconds, the frame loop paused meanwhile); the frames after that must overflow the bound.
        bound = 4
        small, small_outage_s = _disturbed_replay(server, clips, tmp_path / "bounded",
                                                  [*sets, "--set", f"worker.outbox_max_messages={bound}"],
                                                  down_s=3 * OUTAGE_S)
    ridden = _ridden_out(text)
    assert "frame messages dropped: 0" in ridden, ridden
    rows_clean, mapped_clean = _rows(tmp_path / "clean", names)
    rows_hit, mapped_hit = _rows(tmp_path / "disturbed", names)
    assert rows_clean > 0
    assert abs(rows_hit - rows_clean) <= 0.01 * rows_clean
    assert abs(mapped_hit - mapped_clean) <= 0.01 * mapped_clean
    agreement = _id_agreement(tmp_path / "clean", tmp_path / "disturbed", names)
    same = sum((tmp_path / "clean" / f"{n}.txt").read_bytes() == (tmp_path / "disturbed" / f"{n}.txt").read_bytes()
               for n in names)
    summary(f"replay-outage: {len(names)} cameras x {CLIP_FRAMES} frames, redis-server SIGKILLed after a third "
            f"of the frame messages and restarted {outage_s:.1f} s later: exit 0, rows {rows_hit} vs {rows_clean} "
            f"undisturbed, rows with a global id {mapped_hit} vs {mapped_clean}, {same}/{len(names)} files "
            f"byte-identical to the undisturbed run, {agreement:.1%} of rows with the same identity (one-to-one "
            f"id matching); {ridden}")

    ridden = _ridden_out(small)
    dropped = int(ridden.rsplit(":", 1)[1])
    assert dropped > 0 and "Redis outbox full" in small, small[-3000:]
    rows_small, mapped_small = _rows(tmp_path / "bounded", names)
    assert rows_small == rows_clean  # the per-camera tracks never depend on Redis
    summary(f"replay-outage above the bound (worker.outbox_max_messages = {bound} per camera): "
            f"{small_outage_s:.1f} s outage, exit 0, {dropped} frame messages dropped (counted and logged), rows "
            f"{rows_small} vs {rows_clean}, rows with a global id {mapped_small} vs {mapped_clean}")


def test_replay_without_reachable_redis_exits_2_with_one_line(tmp_path: Path, dev_dir: Path,
                                                              model_overrides: list[str]) -> None:
    clip = make_clip(dev_dir, tmp_path / "a.mp4", 5)
    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    t0 = time.monotonic()
    res = subprocess.run(_replay_cmd({"a": clip}, tmp_path / "out", _sets(*model_overrides, *FAST_RETRY,
                                                                           "worker.redis_outage_max_s=1.5"),
                                     "--redis-url", url),
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    wall_s = time.monotonic() - t0
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("mctrack: error:")]
    assert len(errors) == 1 and "cannot reach Redis at redis://127.0.0.1" in errors[0]
    assert "worker.redis_outage_max_s = 1.5 s" in errors[0]
    summary(f"replay-unreachable: exit 2 after {wall_s:.1f} s (model loading included): {errors[0]}")


# ------------------------------------------------------------------------------------------------------------ hub
WHO = {"a": {1: 0, 2: 1}, "b": {11: 0, 12: 1}}
HUB_SETS = ["worker.heartbeat_interval_s=0.2", "worker.heartbeat_ttl_s=5", "hub.block_ms=50", "hub.lock_ttl_s=2",
            *FAST_RETRY]


def _hub_record(client: object, cfg: Config) -> object | None:
    views = read_heartbeats(client, HeartbeatKeys(cfg.redis.key_prefix))
    view = next((v for v in views if v.kind == KIND_HUB), None)
    return view.record if view is not None and view.alive else None  # type: ignore[attr-defined]


def test_mctrack_hub_rides_out_a_redis_restart(tmp_path: Path) -> None:
    cfg = make_cfg(*HUB_SETS)
    with RedisServer(tmp_path / "redis") as server:
        client = server.client(socket_timeout=2)
        scene = Scene(2)
        run_frames({c: TrackletPublisher(client, cfg, c) for c in WHO}, scene, range(1, 21), WHO)
        log = tmp_path / "hub.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracker", "hub", "--redis-url", server.url, "--consumer", "outage-test",
                 "--metrics-port", "0", *_sets(f"redis.key_prefix={cfg.redis.key_prefix}", *HUB_SETS)],
                cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            def processed(n: int) -> bool:
                assert proc.poll() is None, log.read_text()[-3000:]
                rec = _hub_record(client, cfg)
                return rec is not None and rec.messages == n  # type: ignore[attr-defined]

            assert wait_until(lambda: processed(40), 60), log.read_text()[-3000:]
            server.kill()
            t_kill = time.monotonic()
            time.sleep(OUTAGE_S)
            server.start()
            outage_s = time.monotonic() - t_kill
            client = server.client(socket_timeout=2)
            t_back = time.monotonic()
            before = _hub_record(client, cfg)
            run_frames({c: TrackletPublisher(client, cfg, c) for c in WHO}, scene, range(21, 41), WHO)
            assert wait_until(lambda: processed(80), 60), (before, log.read_text()[-3000:])
            back_s = time.monotonic() - t_back
            restarted_at = time.time() - (time.monotonic() - t_back)

            def beating_again() -> bool:  # its heartbeats (written through its outbox) came back after the restart
                rec = _hub_record(client, cfg)
                return bool(rec is not None and rec.state == "running"  # type: ignore[attr-defined]
                            and rec.updated_at > restarted_at)  # type: ignore[attr-defined]

            assert wait_until(beating_again, 20), (_hub_record(client, cfg), log.read_text()[-3000:])
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        keys = Keys(cfg.redis.key_prefix)
        maps = {c: {int(k): int(v) for k, v in client.hgetall(keys.camera_local_to_global(c)).items()} for c in WHO}
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("hub outage-test: Redis unreachable") == 1, text[-3000:]
    assert text.count("hub outage-test: Redis reachable again after an outage of") == 1, text[-3000:]
    assert maps["a"][1] == maps["b"][11] and maps["a"][2] == maps["b"][12] and maps["a"][1] != maps["a"][2]
    summary(f"hub-outage: redis-server SIGKILLed for {outage_s:.1f} s; `mctrack hub` kept running, beat and "
            f"processed all 80 messages (40 published after the restart) {back_s:.1f} s after Redis was back; "
            f"outage logged once (start and end)")


def test_a_hub_whose_lock_vanished_with_redis_takes_it_again_but_never_one_another_hub_holds(redis_handle):
    """A restart without persistence (or an outage longer than hub.lock_ttl_s) leaves no leader lock: the hub takes
    it again and reloads its state; a lock another hub took meanwhile still stops it."""
    from tracker.hub.consumer import Hub, HubLockLostError

    r = redis_handle.client
    cfg = make_cfg("hub.lock_ttl_s=0.3")
    keys = Keys(cfg.redis.key_prefix)
    hub = Hub(r, cfg, consumer_name="first")
    hub.start()
    scene = Scene(2)
    run_frames({c: TrackletPublisher(r, cfg, c) for c in WHO}, scene, range(1, 11), WHO, hub=hub)
    r.delete(keys.hub_lock())
    time.sleep(0.15)  # past the renewal interval (a third of the TTL)
    run_frames({c: TrackletPublisher(r, cfg, c) for c in WHO}, scene, range(11, 21), WHO, hub=hub)
    hub.drain()
    assert r.get(keys.hub_lock()) == b"first" and hub.stats.messages == 40
    maps = {c: {int(k): int(v) for k, v in r.hgetall(keys.camera_local_to_global(c)).items()} for c in WHO}
    assert maps["a"][1] == maps["b"][11] and len(set(maps["a"].values())) == 2

    r.set(keys.hub_lock(), "second")
    time.sleep(0.15)
    with pytest.raises(HubLockLostError, match="lost its leader lock"):
        hub.step()
