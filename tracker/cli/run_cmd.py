"""``mctrack run``: supervise the hub and one worker per camera of the config (restart on crash or hang).

Usage::

    mctrack run --config site.yaml                       # embedded Redis when redis.url is empty
    mctrack run --config site.yaml --redis-url redis://redis:6379 --only hub

Stops cleanly on SIGINT/SIGTERM. See tracker/supervisor.py for the restart policy.
"""

from __future__ import annotations

import argparse

from tracker.cli.common import add_config_args, config_from_args, install_stop_signals

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run the hub and every configured camera, restarting crashed or hung "
                                          "processes",
                              description="One process per camera (cameras in the config) plus the hub; dead or "
                                          "hung processes are restarted with backoff and a cap.")
    add_config_args(p)
    p.add_argument("--redis-url", default=None, metavar="URL",
                   help="redis://, rediss:// (TLS) or unix:// URL (default redis.url; empty: one embedded Redis "
                        "shared by all processes)")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only this camera, or 'hub' (repeatable; e.g. one container per process)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.bus.connection import RedisUnavailableError
    from tracker.service.supervisor import Supervisor
    from tracker.telemetry.logs import set_camera_id, setup_logging

    cfg = config_from_args(args)
    level = args.log_level or cfg.logging.level
    setup_logging(level)
    set_camera_id("supervisor")
    supervisor = Supervisor(cfg, args.redis_url, only=args.only, log_level=level)
    stop, restore_signals = install_stop_signals()
    try:
        return supervisor.run(stop)
    except RedisUnavailableError as exc:
        print(f"mctrack: error: {exc}")
        return 2
    finally:
        restore_signals()
