"""``mctrack hub``: run the cross-camera identity hub alone (consumes every camera stream of the key prefix).

Usage::

    mctrack hub --redis-url redis://host:6379            # serve until Ctrl-C / SIGTERM
    mctrack hub --redis-url redis://host:6379 --once     # process what is there, decide every track, exit

Without ``--redis-url`` (and with ``redis.url`` empty) a private embedded Redis is started; its unix-socket URL is
logged so workers on the same machine can use it. The password comes from the environment variable named by
``redis.password_env`` (default MCTRACK_REDIS_PASSWORD) unless the URL has one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Any

from tracker.cli.common import add_config_args, config_from_args, install_stop_signals
from tracker.config import Config

__all__ = ["register", "run", "add_redis_args", "open_redis"]

logger = logging.getLogger(__name__)


def add_redis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None, metavar="URL",
                   help="redis://host:port[/db], rediss:// (TLS) or unix:///path; default redis.url, else a private "
                        "embedded Redis. Password: from the URL or $MCTRACK_REDIS_PASSWORD (redis.password_env)")


def open_redis(args: argparse.Namespace, cfg: Config) -> Any:
    """A :class:`tracker.bus.connection.RedisHandle`, or None after printing why Redis is unusable."""
    from tracker.bus.connection import RedisUnavailableError, connect

    try:
        return connect(cfg.redis, getattr(args, "redis_url", None))
    except RedisUnavailableError as exc:
        print(f"mctrack: error: {exc}", file=sys.stderr)
        return None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hub", help="run the cross-camera identity hub (Redis consumer group over all camera streams)",
        description="Consume every camera's update stream, assign global ids and keep the query keys up to date. "
                    "One hub per key prefix is active; a second one waits as a standby.")
    add_config_args(parser)
    add_redis_args(parser)
    parser.add_argument("--consumer", default=None, help="consumer name (default hub.consumer_name or host-pid)")
    parser.add_argument("--once", action="store_true",
                        help="process everything published so far, decide every deferred track, print stats, exit")
    parser.add_argument("--wait-s", type=float, default=None,
                        help="how long to wait for another hub's leader lock (default hub.lock_ttl_s + 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.hub.consumer import Hub, HubLockedError, HubLockLostError

    cfg = config_from_args(args)
    handle = open_redis(args, cfg)
    if handle is None:
        return 2
    stop, restore_signals = install_stop_signals()
    try:
        hub = Hub(handle.client, cfg, consumer_name=args.consumer)
        try:
            hub.start(wait_s=args.wait_s)
        except HubLockedError as exc:
            print(f"mctrack: error: {exc}", file=sys.stderr)
            return 2
        if args.once:
            hub.drain()
            hub.close()
        else:
            logger.info("hub %s serving %s (Ctrl-C to stop)", hub.consumer, handle.display_url)
            try:
                hub.run(stop)
            except HubLockLostError as exc:
                print(f"mctrack: error: {exc}", file=sys.stderr)
                return 1
        pct = {p: (round(v, 2) if math.isfinite(v) else None) for p, v in hub.latency_percentiles_ms().items()}
        print(json.dumps({"consumer": hub.consumer, **vars(hub.stats),
                          "latency_p50_ms": pct[50], "latency_p99_ms": pct[99]}))
        return 0
    finally:
        restore_signals()
        handle.close()
