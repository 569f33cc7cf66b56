"""``mctrack ui``: the read-only web console and HTTP API (camera wall, identities, site map, live events).

Usage::

    mctrack ui --config site.yaml                           # http://127.0.0.1:8080/ (ui.host, ui.port)
    MCTRACK_UI_TOKEN=... mctrack ui --config site.yaml --host 0.0.0.0 --port 8080

It reads the Redis the hub writes (``--redis-url`` or ``redis.url``) and nothing else. On an address other than
loopback it refuses to start (exit 2) unless a token is set in the environment variable named by ``ui.token_env``
(default MCTRACK_UI_TOKEN); with a token, every request needs it. Exit code 0 after Ctrl-C / SIGTERM, 2 for a bad
config, an unusable Redis, a busy port or a missing token.
"""

from __future__ import annotations

import argparse
import os
import sys

from tracker.cli.common import add_config_args, config_from_args, open_shared_redis

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ui", help="serve the read-only web console and HTTP API over Redis",
        description="A web console (camera wall, identities, site map, live events) and a JSON API (/docs) over "
                    "the hub's Redis keys; read-only. Off loopback it needs a token in $MCTRACK_UI_TOKEN "
                    "(ui.token_env).")
    add_config_args(p)
    p.add_argument("--redis-url", default=None, metavar="URL", help="the Redis the hub uses (default redis.url)")
    p.add_argument("--host", default=None, help="listen address (default ui.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="listen port (default ui.port; 0 = any free port)")
    p.add_argument("--calibration", metavar="FILE", default=None,
                   help="calibration file for the site map (sets geometry.calibration_file)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.ui.auth import BindRefused, auth_rule
    from tracker.ui.server import bind_socket, serve, site_calibrations

    cfg = config_from_args(args, [f"geometry.calibration_file={args.calibration}"] if args.calibration else [])
    host = args.host if args.host is not None else cfg.ui.host
    port = args.port if args.port is not None else cfg.ui.port
    if not 0 <= port <= 65535:
        print(f"mctrack: error: --port {port} is out of range: allowed 0 <= port <= 65535", file=sys.stderr)
        return 2
    try:
        rule = auth_rule(host, os.environ.get(cfg.ui.token_env, "").strip(), cfg.ui.token_env)
    except BindRefused as exc:
        print(f"mctrack: error: {exc}", file=sys.stderr)
        return 2
    calibrations = site_calibrations(cfg)
    handle = open_shared_redis(args, cfg, "the web console")
    if handle is None:
        return 2
    try:
        try:
            sock = bind_socket(host, port)
        except OSError as exc:
            print(f"mctrack: error: {exc}", file=sys.stderr)
            return 2
        serve(cfg, handle.client, rule, sock, calibrations)
    finally:
        handle.close()
    return 0
