"""``mctrack replay``: run recorded video through the pipeline and write MOTChallenge files."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tracker.cli.common import add_config_args, config_from_args

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="track people in recorded video; write DIR/NAME.txt (MOTChallenge)",
                       description="Replays one or more cameras in sync through the per-camera pipeline and the "
                                   "cross-camera hub, writing OUT/NAME.txt with global ids (per-camera ids in "
                                   "OUT/local/NAME.txt). Every frame is processed unless --realtime.")
    p.add_argument("--camera", action="append", required=True, metavar="NAME=PATH",
                   help="a camera: video file, image folder or stream (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_config_args(p)
    p.add_argument("--calibration", metavar="FILE",
                   help="ground-plane calibration of the cameras (cameras: {NAME: {image_to_ground: 3x3}}, as "
                        "written by `mctrack calibrate`); sets geometry.calibration_file")
    p.add_argument("--no-hub", action="store_true", help="per-camera ids only (no cross-camera identities)")
    p.add_argument("--redis-url", help="use this Redis instead of an embedded one (sets redis.url)")
    p.add_argument("--realtime", action="store_true", help="pace files at their fps like live cameras")
    p.add_argument("--save-video", action="store_true", help="also write an annotated OUT/NAME.mp4")
    p.add_argument("--save-map", action="store_true",
                   help="with --calibration: also write OUT/map.png, a top view of every identity's path on the "
                        "ground and the cameras' fields of view")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.bus.connection import RedisUnavailableError
    from tracker.offline.replay import parse_camera_spec, run_replay

    extra = []
    if args.realtime:
        extra.append("source.realtime=true")
    if args.redis_url:
        extra.append(f"redis.url={args.redis_url}")
    if args.calibration:
        extra.append(f"geometry.calibration_file={args.calibration}")
    cfg = config_from_args(args, extra)
    cameras = [parse_camera_spec(c) for c in args.camera]
    try:
        summary = run_replay(cfg, cameras, Path(args.out), use_hub=not args.no_hub, save_video=args.save_video,
                             progress=not args.no_progress, save_map=args.save_map)
    except RedisUnavailableError as exc:  # unreachable longer than worker.redis_outage_max_s: one line, exit 2
        print(f"mctrack: error: {exc}", file=sys.stderr)
        return 2
    med = summary.stage_median_ms()
    total_frames = sum(summary.frames.values())
    print(f"replayed {total_frames} frames from {len(cameras)} camera(s) in {summary.wall_s:.1f} s "
          f"({total_frames / max(summary.wall_s, 1e-9):.1f} fps)")
    print("median ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
    for name, path in summary.outputs.items():
        print(f"  {name}: {summary.frames[name]} frames, {summary.tracks[name]} local tracks -> {path}")
    if not args.no_hub:
        print(f"  global identities: {summary.global_ids}")
        if summary.published_ids:
            causes = ", ".join(f"{k} {v}" for k, v in sorted(summary.corrections.items())) or "none"
            print(f"  published ids: {summary.published_ids}, corrected later: {sum(summary.corrections.values())} "
                  f"({summary.correction_rate():.1%}; {causes})")
        if summary.redis_outages or summary.messages_dropped:
            print(f"  Redis outages ridden out: {summary.redis_outages} (the hub waited {summary.redis_down_s:.1f} s; "
                  f"the publishers buffered meanwhile), frame messages dropped: {summary.messages_dropped}")
    return 0
