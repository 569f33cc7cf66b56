"""``mctrack soak``: long looped replay through the live path; prints RSS and Redis memory at start and end."""

from __future__ import annotations

import argparse
import json

from tracker.cli.common import add_config_args, config_from_args

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("soak", help="memory soak: replay a video in a loop through pipeline, Redis and hub",
                              description="Loops a video as one camera through the live path (pipeline, outbox, "
                                          "Redis stream, hub) and prints process RSS and Redis used_memory at the "
                                          "start, after each loop and at the end.")
    p.add_argument("--video", required=True, metavar="PATH", help="video file or image folder to loop")
    p.add_argument("--loops", type=int, default=10, help="how many times to play it (default 10)")
    p.add_argument("--max-frames", type=int, default=0, help="frames per loop (0 = whole file)")
    p.add_argument("--redis-url", default=None, metavar="URL", help="Redis to use (default: embedded)")
    p.add_argument("--json", action="store_true", help="print the report as JSON at the end")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tracker.bench.soak import SoakSample, run_soak

    cfg = config_from_args(args)

    def show(s: SoakSample) -> None:
        print(f"{s.label:>8}: frames {s.frames:6d}  wall {s.wall_s:7.1f} s  RSS {s.rss_mb:7.1f} MiB  "
              f"Redis used_memory {s.redis_used_mb:6.2f} MiB ({s.redis_keys} keys)  identities {s.identities}  "
              f"outbox {s.outbox_depth}", flush=True)

    report = run_soak(cfg, args.video, args.loops, redis_url=args.redis_url, max_frames=args.max_frames,
                      on_sample=show)
    first, last = report.samples[0], report.samples[-1]
    print(f"soak: {args.loops} loop(s) x {report.frames_per_loop} frames; RSS {first.rss_mb:.1f} -> "
          f"{last.rss_mb:.1f} MiB (growth after loop 1: {report.rss_growth_mb:+.1f} MiB); Redis used_memory "
          f"{first.redis_used_mb:.2f} -> {last.redis_used_mb:.2f} MiB; {report.messages_sent} messages sent, "
          f"{report.messages_dropped} dropped, hub handled {report.hub_messages}")
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    return 0
