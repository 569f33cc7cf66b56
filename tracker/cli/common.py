"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracker.config import Config, load_config

if TYPE_CHECKING:
    from tracker.bus.connection import RedisHandle

__all__ = ["add_config_args", "config_from_args", "install_stop_signals", "add_redis_args", "open_redis",
           "open_shared_redis"]


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config (defaults: config/default.yaml values)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set detector.weights=PATH (repeatable)")


def add_redis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None, metavar="URL",
                   help="redis://host:port[/db], rediss:// (TLS) or unix:///path; default redis.url, else a private "
                        "embedded Redis. Password: from the URL or $MCTRACK_REDIS_PASSWORD (redis.password_env)")


def open_redis(args: argparse.Namespace, cfg: Config) -> RedisHandle | None:
    """A Redis connection for ``--redis-url`` (else ``redis.url``, else a private embedded Redis), or None after
    printing why Redis is unusable (the command then exits 2)."""
    from tracker.bus.connection import RedisUnavailableError, connect

    try:
        return connect(cfg.redis, getattr(args, "redis_url", None))
    except RedisUnavailableError as exc:
        print(f"mctrack: error: {exc}", file=sys.stderr)
        return None


def open_shared_redis(args: argparse.Namespace, cfg: Config, what: str) -> RedisHandle | None:
    """A connection to the Redis other processes share (``--redis-url``, else ``redis.url``; never a private
    embedded one), or None after printing why there is none (the command then exits 2). ``what``: who needs it,
    for the message (e.g. "status", "the web console")."""
    if not (getattr(args, "redis_url", None) or cfg.redis.url):
        print(f"mctrack: error: {what} needs the Redis the processes use: pass --redis-url or set redis.url "
              "(an embedded Redis is private to the process that started it; `mctrack run` logs its URL)",
              file=sys.stderr)
        return None
    return open_redis(args, cfg)


def config_from_args(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """Load the config named by --config with --set overrides (then ``extra`` overrides) applied."""
    return load_config(args.config, list(args.set) + list(extra or []))


def install_stop_signals() -> tuple[threading.Event, Callable[[], None]]:
    """SIGINT/SIGTERM set the returned event (a clean shutdown) instead of raising; call the returned function to
    put the previous handlers back. Outside the main thread no handler is installed."""
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return stop, restore
