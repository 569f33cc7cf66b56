"""``mctrack hub``: run the cross-camera identity hub alone (consumes every camera stream of the key prefix).

Usage::

    mctrack hub --redis-url redis://host:6379            # serve until Ctrl-C / SIGTERM
    mctrack hub --redis-url redis://host:6379 --once     # process what is there, decide every track, exit

Without ``--redis-url`` (and with ``redis.url`` empty) a private embedded Redis is started; its unix-socket URL is
logged so workers on the same machine can use it. The password comes from the environment variable named by
``redis.password_env`` (default MCTRACK_REDIS_PASSWORD) unless the URL has one.

The hub runs exactly as under ``mctrack run`` (:func:`tracker.hub.runner.run_hub`): heartbeats for
``mctrack status`` and metrics on ``--metrics-port`` (default ``metrics.port``; 0 = off). At the end it prints
its counters as one JSON line. Exit code 0 after a clean stop, 2 when Redis is unusable or another hub holds the
lock of the key prefix, 1 when it lost the lock or failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from tracker.cli.common import (
    add_config_args,
    add_redis_args,
    config_from_args,
    install_stop_signals,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hub", help="run the cross-camera identity hub (Redis consumer group over all camera streams)",
        description="Consume every camera's update stream, assign global ids and keep the query keys up to date. "
                    "One hub per key prefix is active; a second one waits as a standby. Heartbeats for "
                    "`mctrack status`, metrics on metrics.port.")
    add_config_args(parser)
    add_redis_args(parser)
    parser.add_argument("--consumer", default=None, help="consumer name (default hub.consumer_name or host-pid)")
    parser.add_argument("--once", action="store_true",
                        help="process everything published so far, decide every deferred track, print stats, exit")
    parser.add_argument("--wait-s", type=float, default=None,
                        help="how long to wait for another hub's leader lock (default hub.lock_ttl_s + 1)")
    parser.add_argument("--metrics-port", type=int, default=None, help="override metrics.port (0 = off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.hub.runner import HubRunOptions, run_hub

    cfg = config_from_args(args)
    options = HubRunOptions(redis_url=args.redis_url, consumer=args.consumer, metrics_port=args.metrics_port,
                            lock_wait_s=args.wait_s, wait_for_redis=False, once=args.once,
                            log_failures=False)
    stop, restore_signals = install_stop_signals()
    try:
        result = run_hub(cfg, options, stop)
    finally:
        restore_signals()
    if result.exit_code != 0:
        print(f"mctrack: error: {result.error}", file=sys.stderr)
    else:
        print(json.dumps(result.summary()))
    return result.exit_code
