"""The web console under test: a Redis filled by a real two-camera replay (see tests/system/conftest.py) and
`mctrack ui` started as a real process on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from paths import REPO

__all__ = ["UiSite", "UiProcess", "start_ui", "run_ui_expecting_exit", "CAMERAS", "SECRET_SOURCE"]

CAMERAS = ("cam1", "cam2")
#: A worker's last error that holds a camera password: the console must only ever show it redacted.
SECRET_SOURCE = "rtsp://viewer:hunter2pw@10.0.0.12/stream1"
_READY = re.compile(r"web console on (http://\S+?)/ ")


@dataclass(frozen=True)
class UiSite:
    redis_url: str
    calibration: Path
    tmp: Path


class UiProcess:
    """A running `mctrack ui`: its base URL (``http://127.0.0.1:PORT``) and its log so far."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str, lines: list[str]) -> None:
        self.proc = proc
        self.base_url = base_url
        self.lines = lines

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"mctrack ui did not stop within {timeout_s} s of SIGTERM:\n{self.log}") from None
        return int(self.proc.returncode)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MCTRACK_UI_TOKEN"}
    env.update({"PYTHONUNBUFFERED": "1", **(extra or {})})
    return env


def start_ui(site: UiSite, *args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> UiProcess:
    """Start `mctrack ui` on 127.0.0.1 (any free port unless ``args`` say otherwise) against the site's Redis and
    wait until it logs its URL."""
    cmd = [sys.executable, "-m", "tracker", "ui", "--redis-url", site.redis_url, "--calibration",
           str(site.calibration), "--host", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(env))
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = _READY.search(line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"mctrack ui did not start within {timeout_s} s:\n{''.join(lines)}")
    if not found:
        proc.wait(10)
        raise AssertionError(f"mctrack ui exited with {proc.returncode} before serving:\n{''.join(lines)}")
    return UiProcess(proc, found[0], lines)


def run_ui_expecting_exit(site: UiSite, *args: str, env: dict[str, str] | None = None,
                          timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `mctrack ui` that must exit by itself (a refused start)."""
    cmd = [sys.executable, "-m", "tracker", "ui", "--redis-url", site.redis_url, *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=_env(env), timeout=timeout_s)
