"""Real redis-server deployments on loopback: TLS, mutual TLS, a wrong CA, and an ACL user limited to the key
prefix. Each runs a site's whole use of Redis (workers' outbox, heartbeats, hub, queries, export) through
:func:`tracker.bus.connection.connect` with the config keys an operator would set.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from redis_server import RedisServer, TlsFiles, make_tls_files
from redis_workload import run_site

from tracker.bus.connection import ACL_COMMANDS, RedisUnavailableError, acl_line, connect
from tracker.config import Config, load_config

PASSWORD = "s3cret-acl-pw"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("pki"))


def _cfg(prefix: str, *overrides: str) -> Config:
    return load_config(None, [f"redis.key_prefix={prefix}", "redis.socket_timeout_s=5", *overrides])


def _expect_site_works(cfg: Config, url: str, out: Path) -> dict[str, object]:
    digest = run_site(cfg, url, out)
    assert digest["cameras"] == ["a", "b"]
    assert len(digest["identities"]) == 3  # type: ignore[arg-type]  # three people, one crossing both cameras
    assert digest["workers"] == ["a", "b"]
    assert set(digest["export"]) == {"a", "b"}  # type: ignore[arg-type]
    return digest


def test_tls_with_ca_file_and_hostname_check(redis_binary: str, tls: TlsFiles, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "r", binary=redis_binary, tls=tls, appendonly=False) as server:
        url = f"rediss://localhost:{server.port}/0"  # the certificate names localhost: hostname checking stays on
        cfg = _cfg("tls1", f"redis.tls_ca_file={tls.ca}")
        t0 = time.perf_counter()
        _expect_site_works(cfg, url, tmp_path / "out")
        print(f"tls: site over rediss:// with redis.tls_ca_file and hostname check in "
              f"{time.perf_counter() - t0:.2f} s")
        with pytest.raises(RedisUnavailableError, match="does not speak TLS|cannot reach"):
            connect(_cfg("tls1").redis, f"redis://localhost:{server.port}/0")  # plain text to a TLS port


def test_mutual_tls(redis_binary: str, tls: TlsFiles, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "r", binary=redis_binary, tls=tls, tls_auth_clients=True, appendonly=False) as server:
        url = f"rediss://127.0.0.1:{server.port}/0"  # the certificate also lists 127.0.0.1
        with pytest.raises(RedisUnavailableError, match="tls_cert_file") as no_cert:
            connect(_cfg("mtls", f"redis.tls_ca_file={tls.ca}").redis, url)
        cfg = _cfg("mtls", f"redis.tls_ca_file={tls.ca}", f"redis.tls_cert_file={tls.client_cert}",
                   f"redis.tls_key_file={tls.client_key}")
        t0 = time.perf_counter()
        _expect_site_works(cfg, url, tmp_path / "out")
        print(f"mutual-tls: site with a client certificate in {time.perf_counter() - t0:.2f} s; without one: "
              f"{no_cert.value}")


def test_wrong_ca_is_a_clear_error(redis_binary: str, tls: TlsFiles, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "r", binary=redis_binary, tls=tls, appendonly=False,
                     extra_args=["--bind", "127.0.0.1", "127.0.0.2"]) as server:
        cfg = _cfg("wrongca", f"redis.tls_ca_file={tls.other_ca}")
        with pytest.raises(RedisUnavailableError) as err:
            connect(cfg.redis, f"rediss://localhost:{server.port}/0")
        text = str(err.value)
        assert "certificate verification failed" in text and "redis.tls_ca_file" in text
        assert str(tls.other_ca) in text
        print(f"wrong-ca: {text}")
        other_ip = f"rediss://127.0.0.2:{server.port}/0"  # the certificate names localhost and 127.0.0.1 only
        with pytest.raises(RedisUnavailableError, match="tls_check_hostname") as mismatch:
            connect(_cfg("wrongca", f"redis.tls_ca_file={tls.ca}").redis, other_ip)
        print(f"tls-hostname: {mismatch.value}")
        with connect(_cfg("wrongca", f"redis.tls_ca_file={tls.ca}", "redis.tls_check_hostname=false").redis,
                     other_ip) as handle:
            assert handle.client.ping()


def test_config_mistakes_name_the_key(tls: TlsFiles, tmp_path: Path) -> None:
    from tracker.config import ConfigError

    with pytest.raises(ConfigError, match="tls_cert_file and redis.tls_key_file"):
        _cfg("x", f"redis.tls_cert_file={tls.client_cert}")
    with pytest.raises(ConfigError, match="not a rediss:// URL"):
        _cfg("x", "redis.url=redis://localhost:1/0", f"redis.tls_ca_file={tls.ca}")
    with pytest.raises(ConfigError, match="redis.tls_ca_file .* is not a readable file"):
        connect(_cfg("x", f"redis.tls_ca_file={tmp_path / 'missing.pem'}").redis, "rediss://localhost:1/0")
    with pytest.raises(ConfigError, match="needs redis.sentinels"):
        _cfg("x", "redis.mode=sentinel")
    with pytest.raises(ConfigError, match=r"redis.sentinels\[1\] = 'nohost' is not host:port"):
        _cfg("x", "redis.mode=sentinel", "redis.sentinels=[127.0.0.1:26379, nohost]")
    with pytest.raises(ConfigError, match="needs redis.url .* naming one node"):
        connect(_cfg("x", "redis.mode=cluster").redis)
    with pytest.raises(RedisUnavailableError, match="no sentinel of 127.0.0.1:1 .*redis.sentinel_master"):
        connect(_cfg("x", "redis.mode=sentinel", "redis.sentinels=[127.0.0.1:1]", "redis.socket_timeout_s=1").redis)


def test_acl_user_limited_to_its_prefix(redis_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisServer(tmp_path / "r", binary=redis_binary, appendonly=False) as server:
        admin = server.client()
        line = acl_line("site1", user="site1").replace(">PASSWORD", f">{PASSWORD}")
        assert admin.execute_command(*line.split()[0:2], *line.split()[2:]) in (b"OK", True)
        monkeypatch.setenv("MCTRACK_REDIS_PASSWORD", PASSWORD)
        url = f"redis://site1@127.0.0.1:{server.port}/0"
        cfg = _cfg("site1")
        t0 = time.perf_counter()
        _expect_site_works(cfg, url, tmp_path / "out")
        elapsed = time.perf_counter() - t0
        stats = admin.info("commandstats")
        used = sorted(name.removeprefix("cmdstat_") for name in stats)
        with pytest.raises(RedisUnavailableError) as err:
            connect(_cfg("site2").redis, url)
        text = str(err.value)
        assert "site2:*" in text and "ACL SETUSER" in text and "redis.key_prefix" in text
        assert PASSWORD not in text
        denied = [e for e in admin.acl_log() if e.get("username") == "site1"]
        print(f"acl: site as user 'site1' (~site1:*, {len(ACL_COMMANDS)} commands) in {elapsed:.2f} s; "
              f"{len(denied)} denial(s) logged (the probe of site2); another prefix: {text}")
        print(f"acl: commands the server saw: {' '.join(used)}")
        # the only denial is the connect-time probe of the other prefix: nothing the site itself did was refused
        assert [(e.get("reason"), str(e.get("object", "")).split(":")[0]) for e in denied] == [("key", "site2")], \
            denied
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.client(username="site1", password=PASSWORD).flushall()
