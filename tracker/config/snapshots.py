"""The ``snapshots`` section: the small annotated JPEG each camera worker publishes for the web console's camera
wall (``cam:{camera}:snapshot`` in Redis, see docs/redis-schema.md)."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config.fields import _f

__all__ = ["SnapshotsConfig"]


@dataclass
class SnapshotsConfig:
    enabled: bool = _f(True, "Camera workers (and `mctrack replay` with the hub) publish an annotated JPEG of "
                       "their latest frame to Redis for the web console. Never delays the frame loop: encoded "
                       "and written by the Redis writer thread, dropped (and counted) while Redis is down.")
    interval_s: float = _f(1.0, "Wall-clock seconds between two snapshots of a camera (the console shows frames "
                           "at most about this old plus the write time).", lo=0.05, hi=3600.0)
    max_width_px: int = _f(640, "Snapshots wider than this are scaled down to it (aspect kept); narrower frames "
                           "keep their size.", lo=32, hi=8192)
    jpeg_quality: int = _f(70, "JPEG quality of a snapshot (640x480 at 70: about 35 kB).", lo=1, hi=100)
    ttl_s: float = _f(30.0, "Redis TTL of a camera's snapshot, so a stopped camera's last frame disappears.",
                      lo=1.0, hi=86400.0)
