"""``mctrack status``: every camera worker's and the hub's state from their heartbeats in Redis.

Shows state (starting, running, source-down, stale = heartbeat expired, failed, stopped), fps in/out, dropped
frames, reconnects, Redis buffer, restarts (from ``mctrack run``) and the last error. ``--json`` for machines.
Exit code 0 when every listed process is alive and running, 1 otherwise, 2 when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from tracker.cli.common import add_config_args, config_from_args, open_shared_redis

__all__ = ["register", "run", "format_table"]

_HEALTHY = ("running",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="show every camera's and the hub's state from their heartbeats",
                              description="Reads the heartbeats the workers and the hub keep in Redis.")
    add_config_args(p)
    p.add_argument("--redis-url", default=None, metavar="URL", help="Redis URL (default redis.url)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def format_table(views: list, now: float | None = None) -> str:
    now = time.time() if now is None else now
    header = ("PROCESS", "STATE", "PID", "AGE_S", "FPS_IN", "FPS_OUT", "DROPPED", "RECONN", "BUFFER", "RESTARTS",
              "LAST_ERROR")
    rows = [header]
    for v in views:
        r = v.record
        sup = v.supervisor or {}
        rows.append((
            f"{v.kind}:{v.name}", v.state, str(r.pid if r else sup.get("pid") or "-"),
            f"{r.age_s(now):.1f}" if r else "-",
            f"{r.fps_in:.1f}" if r else "-", f"{r.fps_out:.1f}" if r else "-",
            str(r.frames_dropped) if r else "-", str(r.source_reconnects + r.redis_reconnects) if r else "-",
            str(r.outbox_depth) if r else "-", str(sup.get("restarts", "-")),
            (r.last_error if r else sup.get("last_reason", "")) or "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    import logging

    from tracker.bus.heartbeat import HeartbeatKeys, read_heartbeats

    cfg = config_from_args(args)
    if not args.log_level:
        logging.getLogger().setLevel(logging.WARNING)  # the table is the output
    handle = open_shared_redis(args, cfg, "status")
    if handle is None:
        return 2
    try:
        views = read_heartbeats(handle.client, HeartbeatKeys(cfg.redis.key_prefix), [c.name for c in cfg.cameras])
    finally:
        handle.close()
    if args.json:
        print(json.dumps([{"kind": v.kind, "name": v.name, "state": v.state, "alive": v.alive,
                           "heartbeat": asdict(v.record) if v.record else None, "supervisor": v.supervisor}
                          for v in views], indent=2))
    elif not views:
        print("no heartbeats under this key prefix: no worker or hub has run here yet")
    else:
        print(format_table(views))
    return 0 if views and all(v.alive and v.state in _HEALTHY for v in views) else 1
