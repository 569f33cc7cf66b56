"""Redis's own high availability and sharding on loopback: a three-primary Cluster gives the same replay, queries
and export as a single server, with two sites' keys on different nodes; a Sentinel group promotes the replica
when the primary is killed mid-replay and the run finishes (what asynchronous replication lost is counted).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from hub_helpers import Scene
from redis_server import RedisClusterGroup, RedisServer, SentinelGroup, wait_until
from redis_workload import CAMERAS, publish_site, run_site

from tracker.bus.connection import connect
from tracker.bus.schema import Keys, decode_frame
from tracker.config import Config, load_config
from tracker.hub.consumer import Hub


def _node_port(cluster: RedisClusterGroup, key: str) -> int:
    """The port of the primary that serves ``key``'s slot."""
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    try:
        return int(client.get_node_from_key(key).port)
    finally:
        client.close()


def test_cluster_gives_the_single_server_result(redis_binary: str, tmp_path: Path) -> None:
    assert load_config(None, ["redis.mode=cluster"]).redis.key_prefix == "{mctrack}"  # one slot per site
    assert load_config(None, ["redis.key_prefix=site1"]).redis.key_prefix == "site1"  # standalone: unchanged
    with RedisServer(tmp_path / "single", binary=redis_binary, appendonly=False) as single:
        expected = run_site(load_config(None, ["redis.key_prefix=site1"]), single.url, tmp_path / "out-single")
    with RedisClusterGroup(tmp_path / "cluster", binary=redis_binary) as cluster:
        # two sites whose hash tags live on different primaries
        site_a = "site1"
        site_b = next(f"site{i}" for i in range(2, 200)
                      if _node_port(cluster, f"{{site{i}}}:v1:x") != _node_port(cluster, "{site1}:v1:x"))
        t0 = time.perf_counter()
        got = run_site(load_config(None, ["redis.mode=cluster", f"redis.key_prefix={site_a}"]), cluster.url,
                       tmp_path / "out-cluster")
        elapsed = time.perf_counter() - t0
        other = run_site(load_config(None, ["redis.mode=cluster", f"redis.key_prefix={site_b}"]), cluster.nodes[2].url,
                         tmp_path / "out-cluster-b")
        keys_per_node = [n.client().dbsize() for n in cluster.nodes]
    assert got == expected
    assert other == expected  # the same scene under another prefix: the same result
    assert sorted(k > 0 for k in keys_per_node).count(True) == 2, keys_per_node
    exported = sorted(p.name for p in (tmp_path / "out-cluster").iterdir())
    assert exported == ["a.txt", "b.txt"]
    for name in exported:
        assert (tmp_path / "out-cluster" / name).read_bytes() == (tmp_path / "out-single" / name).read_bytes()
    print(f"cluster: 3 primaries, sites {{{site_a}}} and {{{site_b}}} on different nodes (keys per node "
          f"{keys_per_node}); replay+hub+queries+export in {elapsed:.2f} s, identical to a single server "
          f"({len(expected['identities'])} identities, export sha256 equal)")  # type: ignore[arg-type]


def _stream_updates(client: redis.Redis, cfg: Config) -> tuple[int, int, dict[str, set[int]]]:
    """Messages and tracklet updates on the camera streams, and the local ids seen per camera."""
    keys = Keys(cfg.redis.key_prefix)
    messages = updates = 0
    local_ids: dict[str, set[int]] = {}
    for camera in CAMERAS:
        for _, fields in client.xrange(keys.updates(camera)):
            m = decode_frame(fields, camera)
            messages += 1
            updates += len(m.local_ids)
            local_ids.setdefault(camera, set()).update(int(x) for x in m.local_ids.tolist())
    return messages, updates, local_ids


def test_sentinel_failover_mid_replay(redis_binary: str, tmp_path: Path) -> None:
    """Workers publish two cameras through their outboxes and a hub consumes, while the primary is SIGKILLed;
    the sentinels promote the replica, the clients follow it, the run finishes. What the asynchronous replication
    lost is counted, and the hub's state in Redis converges to what the promoted primary holds."""
    frames = range(1, 601)
    with SentinelGroup(tmp_path / "ha", binary=redis_binary, down_after_ms=1000) as group:
        group.wait_ready()
        cfg = load_config(None, ["redis.mode=sentinel", f"redis.sentinels={group.sentinels}",
                                 "redis.sentinel_master=mymaster", "redis.key_prefix=ha", "redis.socket_timeout_s=2",
                                 "worker.redis_initial_backoff_s=0.05", "worker.redis_max_backoff_s=0.3",
                                 "hub.trim_processed=false", "hub.lock_ttl_s=3"])
        published: list[int] = []
        progress = threading.Event()
        done = threading.Event()
        scene = Scene(3, seed=2)

        def worker() -> None:  # both cameras, paced so the run spans the failover
            def on_frame(frame: int) -> None:
                time.sleep(0.006)
                if frame == 200:
                    progress.set()
            published.append(publish_site(cfg, None, frames, scene, on_frame=on_frame))
            done.set()

        errors: list[str] = []
        restarts = 0
        applied_final: dict[str, int] = {}

        def hub_loop() -> None:
            nonlocal restarts
            hub: Hub | None = None
            handle = connect(cfg.redis)
            try:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    try:
                        if hub is None:
                            hub = Hub(handle.client, cfg, consumer_name="ha-hub")
                            hub.start(wait_s=10.0)  # reloads its state from whatever the current primary holds
                        hub.step(block_ms=50)
                        if done.is_set() and hub.drain() == 0:
                            messages, updates, _ = _stream_updates(handle.client, cfg)
                            stats = handle.client.hgetall(Keys(cfg.redis.key_prefix).hub_stats())
                            if int(stats.get(b"updates", 0)) >= updates:
                                applied_final.update({k.decode(): int(v) for k, v in stats.items()})
                                return
                    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                            redis.exceptions.ReadOnlyError) as exc:
                        errors.append(type(exc).__name__)
                        hub = None  # a fresh hub re-reads the state: what the failover lost is not kept in memory
                        restarts += 1
                        time.sleep(0.2)
            finally:
                if hub is not None:
                    hub.close()
                handle.close()

        threads = [threading.Thread(target=worker), threading.Thread(target=hub_loop)]
        for t in threads:
            t.start()
        assert progress.wait(60), "the workers did not get going"
        killed_at = time.monotonic()
        group.primary.kill()
        assert wait_until(group.replica_promoted, 30.0, 0.05), "the sentinels did not promote the replica"
        promoted_s = time.monotonic() - killed_at
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "the run did not finish after the failover"
        client = group.replica.client()
        messages, updates, local_ids = _stream_updates(client, cfg)
        total = published[0]
        keys = Keys(cfg.redis.key_prefix)
        lost = total - updates
        pending = sum(client.xpending(keys.updates(c), cfg.hub.consumer_group)["pending"] for c in CAMERAS)
        l2g = {c: {int(k) for k in client.hgetall(keys.camera_local_to_global(c))} for c in CAMERAS}
    print(f"sentinel-failover: promoted in {promoted_s:.1f} s, {lost}/{total} updates lost "
          f"({messages} frame messages survive; hub restarted {restarts}x after {sorted(set(errors))}; "
          f"hub applied {applied_final.get('updates')} updates)")
    assert 0 <= lost <= total // 10, f"{lost}/{total} updates lost"
    assert applied_final.get("updates") == updates  # converged: everything that survived applied exactly once
    assert pending == 0
    assert all(local_ids[c] <= l2g[c] for c in CAMERAS), "a surviving track has no global id"


def _replay(cameras: list[str], out: Path, model_overrides: list[str], extra: list[str]) -> dict[str, bytes]:
    """``mctrack replay`` of the clips (in a subprocess, as a user runs it); returns each output file's bytes."""
    import subprocess
    import sys

    sets = sum((["--set", s] for s in [*model_overrides, *extra]), [])
    result = subprocess.run([sys.executable, "-m", "tracker", "replay", *cameras, "--out", str(out), "--no-progress",
                             *sets], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.txt"))}


@pytest.fixture()
def two_clips(tmp_path: Path, dev_dir: Path) -> list[str]:
    from live_helpers import make_clip

    clips = {c: make_clip(dev_dir, tmp_path / f"{c}.mp4", 100, camera=f"two-cam/{c}") for c in ("cam1", "cam2")}
    return sum((["--camera", f"{c}={p}"] for c, p in clips.items()), [])


@pytest.mark.slow
def test_replay_on_a_cluster_writes_what_a_single_server_does(redis_binary: str, tmp_path: Path, two_clips: list[str],
                                                             model_overrides: list[str]) -> None:
    with RedisServer(tmp_path / "single", binary=redis_binary) as single:
        expected = _replay(two_clips, tmp_path / "single-out", model_overrides, [f"redis.url={single.url}"])
    with RedisClusterGroup(tmp_path / "cluster", binary=redis_binary) as cluster:
        got = _replay(two_clips, tmp_path / "cluster-out", model_overrides,
                      [f"redis.url={cluster.url}", "redis.mode=cluster"])
    print(f"cluster-replay: {sum(len(v.splitlines()) for v in got.values())} rows, byte-identical to a single "
          f"server: {got == expected}")
    assert got == expected and len(got) == 2


@pytest.mark.slow
def test_replay_rides_out_a_sentinel_failover(redis_binary: str, tmp_path: Path, two_clips: list[str],
                                              model_overrides: list[str]) -> None:
    """The primary is SIGKILLed while ``mctrack replay`` runs; the sentinels promote the replica, the replay's
    clients follow it and the run finishes with the rows of an undisturbed run."""
    import subprocess
    import sys

    with RedisServer(tmp_path / "single", binary=redis_binary) as single:
        undisturbed = _replay(two_clips, tmp_path / "single-out", model_overrides, [f"redis.url={single.url}"])
    with SentinelGroup(tmp_path / "ha", binary=redis_binary, down_after_ms=1000) as group:
        group.wait_ready()
        overrides = [*model_overrides, "redis.mode=sentinel", f"redis.sentinels={group.sentinels}",
                     "redis.sentinel_master=mymaster", "redis.key_prefix=ha"]
        sets = sum((["--set", s] for s in overrides), [])
        log = tmp_path / "replay.log"
        with open(log, "w") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "tracker", "replay", *two_clips, "--out",
                                     str(tmp_path / "ha-out"), "--no-progress", *sets], stdout=log_file,
                                    stderr=subprocess.STDOUT)
            primary = group.primary.client()
            assert wait_until(lambda: int(primary.hget("ha:v1:hub:stats", "updates") or 0) > 50, 180, 0.2), \
                log.read_text()[-3000:]
            killed = time.monotonic()
            group.primary.kill()
            assert wait_until(group.replica_promoted, 30.0, 0.05), "the sentinels did not promote the replica"
            promoted_s = time.monotonic() - killed
            assert proc.wait(300) == 0, log.read_text()[-3000:]
    rows = {name: len((tmp_path / "ha-out" / name).read_text().splitlines()) for name in undisturbed}
    expected = {name: len(text.splitlines()) for name, text in undisturbed.items()}
    print(f"sentinel-replay: promoted in {promoted_s:.1f} s; rows {rows} vs undisturbed {expected}")
    for name, n in expected.items():
        assert abs(rows[name] - n) <= 0.01 * n, (name, rows[name], n)
