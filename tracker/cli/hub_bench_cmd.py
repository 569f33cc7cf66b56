"""``mctrack hub-bench``: hub throughput, assignment latency and Redis memory with synthetic cameras.

Usage::

    mctrack hub-bench [--cameras 50] [--people 8] [--fps 10] [--throughput-s 20] [--latency-s 30]
                      [--memory-s 300] [--retention-s 20] [--redis-url URL] [--json]

The load and the three phases are described in :mod:`tracker.bench.hub_load`. Nothing is asserted: figures are
printed (``--json`` for one JSON object on stdout; the progress lines then go to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

from tracker.cli.common import (
    add_config_args,
    add_redis_args,
    config_from_args,
    open_redis,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("hub-bench", help="hub throughput, assignment latency and Redis memory with synthetic "
                                                "cameras (prints figures)")
    add_config_args(p)
    add_redis_args(p)
    p.add_argument("--cameras", type=int, default=50, help="simulated cameras")
    p.add_argument("--people", type=int, default=8, help="confirmed tracks per camera at any time")
    p.add_argument("--fps", type=float, default=12.5, help="frames per second per camera")
    p.add_argument("--throughput-s", type=float, default=20.0,
                   help="camera seconds pre-published for phase 1 (0 = skip)")
    p.add_argument("--latency-s", type=float, default=30.0,
                   help="wall seconds of real-time publishing (phase 2; 0 = skip)")
    p.add_argument("--memory-s", type=float, default=300.0, help="camera seconds of the long run (phase 3; 0 = skip)")
    p.add_argument("--retention-s", type=float, default=20.0, help="retention for the long run (phase 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.bench.hub_load import HubLoadSettings, run_hub_load

    cfg = config_from_args(args, ["hub.thumbnails_per_track=0"])
    handle = open_redis(args, cfg)
    if handle is None:
        return 2
    settings = HubLoadSettings(cameras=args.cameras, people=args.people, fps=args.fps, throughput_s=args.throughput_s,
                               latency_s=args.latency_s, memory_s=args.memory_s, retention_s=args.retention_s,
                               seed=args.seed)
    out = sys.stderr if args.json else sys.stdout
    try:
        report = run_hub_load(handle, settings, args.config, list(args.set),
                              progress=lambda line: print(line, file=out, flush=True))
    finally:
        handle.close()
    if args.json:
        print(json.dumps(report.to_json()))
    return 0
