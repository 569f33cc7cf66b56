"""The service sections: ``cameras`` (for ``mctrack run``), ``worker``, ``supervisor``, ``metrics``, ``logging``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tracker.config.calibration import CameraCalibration, calibration_from_mapping
from tracker.config.errors import ConfigError
from tracker.config.fields import _f

__all__ = [
    "CameraCalibrationConfig",
    "CameraConfig",
    "LoggingConfig",
    "MetricsConfig",
    "WorkerConfig",
    "SupervisorConfig",
]


@dataclass
class CameraCalibrationConfig:
    image_to_ground: list[list[float]] = _f(None, "3x3 homography, row by row, mapping a person's foot point "
                                            "(bottom-centre of the box, pixels) to the ground plane in metres "
                                            "(`mctrack calibrate` computes it); empty = not calibrated.",
                                            factory=list)
    image_size: list[int] = _f(None, "[width, height] in pixels the homography was made for (checked against the "
                               "camera's frames); empty = checked at the first frame.", factory=list)


@dataclass
class CameraConfig:
    name: str = _f("", "Camera id: letters, digits, '-', '_' (used in keys, file names and logs).")
    source: str = _f("", "Video file, image folder, rtsp:// URL or webcam index.")
    fps: float = _f(0.0, "Frame rate; 0 = read from the source (seqinfo.ini for image folders).",
                    lo=0.0, hi=1000.0)
    calibration: CameraCalibrationConfig = _f(None, "Ground-plane calibration of this camera (optional; see also "
                                              "geometry.calibration_file).", factory=CameraCalibrationConfig)

    def check(self, key: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ConfigError(f"{key}.name = {self.name!r}: use 1-64 letters, digits, '-' or '_'")
        if not self.source:
            raise ConfigError(f"{key}.source is empty: give a video file, image folder, rtsp:// URL or webcam index")
        if self.calibration.image_to_ground:
            self.calibrated(f"{key}.calibration")

    def calibrated(self, source: str = "config") -> CameraCalibration | None:
        """This camera's inline calibration, validated and oriented; None when it has none.

        Raises:
            ConfigError: naming the key, the camera and what is wrong."""
        if not self.calibration.image_to_ground:
            return None
        mapping: dict[str, object] = {"image_to_ground": self.calibration.image_to_ground}
        if self.calibration.image_size:
            mapping["image_size"] = self.calibration.image_size
        return calibration_from_mapping(self.name, mapping, source)


@dataclass
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _f("INFO", "Log level.")


@dataclass
class MetricsConfig:
    port: int = _f(0, "Prometheus /metrics and /healthz HTTP port (0 = off). `mctrack worker` and `mctrack hub` "
                   "use it as is; under `mctrack run` the supervisor uses it, the hub port + 1 and camera i "
                   "(0-based, in config order) port + 2 + i.", lo=0, hi=65535)
    host: str = _f("127.0.0.1", "Address the metrics server listens on (0.0.0.0 inside containers so it can be "
                   "scraped).")


@dataclass
class WorkerConfig:
    heartbeat_interval_s: float = _f(1.0, "How often a worker (and the hub process) writes its heartbeat (state, "
                                     "fps, drops, last error) to Redis.", lo=0.0, hi=3600.0, lo_open=True)
    heartbeat_ttl_s: float = _f(10.0, "Redis TTL of a heartbeat: a process that stops beating disappears from "
                                "`mctrack status` as alive after this long.", lo=0.0, hi=86400.0, lo_open=True)
    outbox_max_messages: int = _f(3000, "Frame messages a worker buffers while Redis is unreachable (in memory, a "
                                  "few kB each; 3000 = 5 min at 10 fps). Above it the oldest are dropped, counted "
                                  "and logged.", lo=1, hi=10_000_000)
    outbox_batch: int = _f(64, "Most buffered messages sent to Redis in one round trip while flushing.",
                           lo=1, hi=100000)
    redis_initial_backoff_s: float = _f(0.2, "First delay before retrying an unreachable Redis; doubles up to "
                                        "redis_max_backoff_s, with source.reconnect_jitter.", lo=0.0, hi=600.0,
                                        lo_open=True)
    redis_max_backoff_s: float = _f(5.0, "Longest delay between two attempts to reach Redis.", lo=0.0, hi=3600.0,
                                    lo_open=True)
    redis_outage_max_s: float = _f(60.0, "How long a replay (its in-process hub and publishers) waits for an "
                                   "unreachable Redis: to connect at the start, and in an outage before it gives "
                                   "up with exit 2 at the end (until then it buffers, see outbox_max_messages per "
                                   "camera, and finishes with the same output once Redis is back).",
                                   lo=0.0, hi=86400.0)
    stop_timeout_s: float = _f(5.0, "On shutdown, how long a worker tries to flush its buffered messages before "
                               "giving up (they are counted as dropped).", lo=0.0, hi=3600.0)


@dataclass
class SupervisorConfig:
    check_interval_s: float = _f(0.5, "How often `mctrack run` checks its child processes.", lo=0.0, hi=3600.0,
                                 lo_open=True)
    startup_timeout_s: float = _f(180.0, "A child that has not sent its first running heartbeat this long after "
                                  "start (model loading) counts as hung and is restarted.", lo=0.0, hi=86400.0,
                                  lo_open=True)
    hung_after_s: float = _f(30.0, "A running child whose heartbeat is older than this is hung and is killed and "
                             "restarted (only judged while Redis answers). Keep it well above "
                             "worker.heartbeat_interval_s and the slowest frame.", lo=0.0, hi=86400.0,
                             lo_open=True)
    restart_initial_backoff_s: float = _f(1.0, "Delay before the first restart of a child; doubles per "
                                          "consecutive failure up to restart_max_backoff_s.", lo=0.0, hi=3600.0)
    restart_max_backoff_s: float = _f(60.0, "Longest delay before restarting a child.", lo=0.0, hi=86400.0)
    healthy_after_s: float = _f(60.0, "A child that ran this long since its last start resets its backoff.",
                                lo=0.0, hi=86400.0)
    max_restarts: int = _f(10, "Restarts allowed per child within restart_window_s; beyond it the child stays "
                           "down (state 'failed' in `mctrack status`) and the others keep running.",
                           lo=0, hi=1_000_000)
    restart_window_s: float = _f(600.0, "Window for max_restarts.", lo=0.0, hi=604800.0, lo_open=True)
    stop_timeout_s: float = _f(15.0, "On SIGINT/SIGTERM, how long children get to stop after the stop event "
                               "before they are terminated (then killed after as long again).", lo=0.0,
                               hi=3600.0)
    start_ui: bool = _f(False, "Also start `mctrack ui` with this config under the supervisor (one more child "
                        "process, restarted like the others; `--only ui` runs it alone).")
