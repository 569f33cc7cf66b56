"""Helpers shared by the live-operation tests: short clips, site configs, mctrack subprocesses, heartbeats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
REDIS_PASSWORD = "redis-pw-Xq81"
CAM_PASSWORD = "cam-pw-Zk27"
PREFIX = "mctrack"
CLIP_FRAMES = 30


def make_clip(dev_dir: Path, out: Path, frames: int = CLIP_FRAMES, camera: str = "full/cam1") -> Path:
    """The first ``frames`` frames of a dev video as a small mp4 (keeps the tests short)."""
    cap = cv2.VideoCapture(str(dev_dir / camera / "video.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    ok, img = cap.read()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (img.shape[1], img.shape[0]))
    n = 0
    while ok and n < frames:
        writer.write(img)
        n += 1
        ok, img = cap.read()
    writer.release()
    cap.release()
    return out


def summary(line: str) -> None:
    print(f"\n{line}", flush=True)


def site_config(path: Path, model_overrides: list[str], cameras: list[dict[str, Any]] | None = None,
                **sections: dict[str, Any]) -> Path:
    """A site YAML with the real models, short live timeouts and fast heartbeats, plus ``sections``."""
    data: dict[str, Any] = {
        "source": {"open_timeout_s": 3.0, "read_timeout_s": 1.5, "reconnect_initial_backoff_s": 0.2,
                   "reconnect_max_backoff_s": 1.0, "stream_probe_s": 0.5},
        "worker": {"heartbeat_interval_s": 0.2, "heartbeat_ttl_s": 3.0, "redis_initial_backoff_s": 0.1,
                   "redis_max_backoff_s": 0.5, "stop_timeout_s": 10.0},
        "redis": {"socket_timeout_s": 2.0},
    }
    for item in model_overrides:
        key, value = item.split("=", 1)
        section, name = key.split(".")
        data.setdefault(section, {})[name] = value
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    if cameras:
        data["cameras"] = cameras
    path.write_text(yaml.safe_dump(data))
    return path


def env_with_secrets() -> dict[str, str]:
    return {**os.environ, "MCTRACK_REDIS_PASSWORD": REDIS_PASSWORD, "CAM_PW": CAM_PASSWORD, "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "False", "PYTHONUNBUFFERED": "1"}


def start_mctrack(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    proc = subprocess.Popen([PYTHON, "-m", "tracker", *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                            env=env or env_with_secrets())
    out.close()
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"pid {proc.pid} did not stop within {timeout_s} s of SIGTERM") from None
    return int(proc.returncode)


def heartbeat(client: Any, name: str, kind: str = "worker") -> dict[str, Any] | None:
    raw = client.get(f"{PREFIX}:v1:hb:{kind}:{name}")
    return json.loads(raw) if raw else None


def last_heartbeat(client: Any, name: str, kind: str = "worker") -> dict[str, Any]:
    return json.loads(client.hget(f"{PREFIX}:v1:hb:last", f"{kind}:{name}"))


def stream_updates(client: Any, camera: str) -> tuple[int, int]:
    """(messages, tracklet updates) in a camera's stream."""
    entries = client.xrange(f"{PREFIX}:v1:cam:{camera}:updates")
    return len(entries), sum(int(f[b"n"]) for _, f in entries)


