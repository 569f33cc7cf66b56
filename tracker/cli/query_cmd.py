"""``mctrack query``: read identities, cameras and trajectories from the hub's Redis keys (schema v1).

Usage::

    mctrack query identities [--limit N]                 # most recently seen first
    mctrack query identity GID [--points N] [--gallery out.png]
    mctrack query map --out map.png [--calibration FILE] [--start T0 --end T1]
    mctrack query camera CAM [--window-s S]              # who is in camera CAM now
    mctrack query window --start T0 --end T1             # identities seen between two timestamps
    mctrack query cameras
    mctrack query events [--count N]
    mctrack query mapping CAM                            # local track id -> global id
    mctrack query export --out DIR [--cameras a,b]       # MOTChallenge files with global ids

Every subcommand takes ``--redis-url`` and ``--json`` (one JSON document on stdout instead of a table). Times are
the cameras' timestamps in seconds (media time for replays, Unix time for live cameras). Without ``--redis-url``
the embedded Redis is used: it only holds data when ``redis.embedded_dir`` names the folder a run saved it in.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.cli.common import add_config_args, add_redis_args, config_from_args, open_redis
from tracker.config import Config

__all__ = ["register", "run"]


def _common(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    add_redis_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("query", help="query identities, cameras and trajectories kept by the hub",
                                   description="Read the hub's Redis keys (see README: Redis key schema).")
    sub = parser.add_subparsers(dest="query", metavar="WHAT")
    sub.required = True

    p = sub.add_parser("identities", help="list identities, most recently seen first")
    _common(p)
    p.add_argument("--limit", type=int, default=100, help="at most this many (0 = all)")

    p = sub.add_parser("identity", help="one identity: cameras, time span, tracks, trajectory")
    _common(p)
    p.add_argument("gid", type=int, help="global id")
    p.add_argument("--points", type=int, default=20, help="trajectory points to print (the last N; 0 = all)")
    p.add_argument("--gallery", metavar="PNG", help="also write a picture of the identity's thumbnails per camera")

    p = sub.add_parser("camera", help="who is in camera CAM now")
    _common(p)
    p.add_argument("camera", help="camera id")
    p.add_argument("--window-s", type=float, default=None, help="seen within this of the camera's latest frame "
                                                                "(default hub.visible_window_s)")

    p = sub.add_parser("window", help="identities seen in a time window")
    _common(p)
    p.add_argument("--start", type=float, required=True, help="window start (seconds, camera time)")
    p.add_argument("--end", type=float, required=True, help="window end (seconds, camera time)")

    p = sub.add_parser("cameras", help="cameras that published")
    _common(p)

    p = sub.add_parser("events", help="latest identity events (new_identity, assigned, corrected, ...)")
    _common(p)
    p.add_argument("--count", type=int, default=20, help="how many (the newest)")

    p = sub.add_parser("mapping", help="local track id -> global id of one camera")
    _common(p)
    p.add_argument("camera", help="camera id")

    p = sub.add_parser("map", help="draw a top view of the ground plane: every identity's path and the cameras' "
                                   "fields of view (calibrated cameras)")
    _common(p)
    p.add_argument("--out", required=True, metavar="PNG", help="picture to write")
    p.add_argument("--calibration", metavar="FILE", help="the cameras' calibration file (sets "
                                                         "geometry.calibration_file; fields of view need image_size)")
    p.add_argument("--start", type=float, default=None, help="only points at or after this timestamp (s)")
    p.add_argument("--end", type=float, default=None, help="only points at or before this timestamp (s)")

    p = sub.add_parser("export", help="write <out>/<camera>.txt MOTChallenge files with global ids")
    _common(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--cameras", default=None, help="comma-separated cameras (default: all)")
    parser.set_defaults(func=run)


def _fmt_ts(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}"


def _fmt_box(b: tuple[float, ...] | None) -> str:
    return "-" if b is None else ",".join(f"{x:.0f}" for x in b)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _identities_table(items: list[Any]) -> str:
    return _table(["gid", "first_ts", "last_ts", "cameras", "last_camera", "last_box", "tracks"],
                  [[str(s.gid), _fmt_ts(s.first_ts), _fmt_ts(s.last_ts), ",".join(s.cameras) or "-",
                    s.last_camera or "-", _fmt_box(s.last_box_xyxy), str(s.n_tracks)] for s in items])


def _q_identities(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import list_identities

    items = list_identities(r, cfg, limit=args.limit or None)
    print(json.dumps(_jsonable(items)) if args.json else _identities_table(items))
    return 0


def _q_identity(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    import cv2

    from tracker.hub.queries import gallery_image, identity_detail

    detail = identity_detail(r, cfg, args.gid, max_points=args.points or None)
    if detail is None:
        print(f"mctrack: error: identity {args.gid} is unknown (never assigned, or past retention)", file=sys.stderr)
        return 1
    if args.gallery:
        img = gallery_image(r, cfg, args.gid)
        if img is None:
            print(f"mctrack: identity {args.gid} has no stored thumbnails; no gallery written", file=sys.stderr)
        else:
            Path(args.gallery).parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(args.gallery), img):
                print(f"mctrack: error: could not write {args.gallery} (use a .png or .jpg name in a writable "
                      f"folder)", file=sys.stderr)
                return 2
    if args.json:
        print(json.dumps(_jsonable(detail)))
        return 0
    s = detail.summary
    merged = f" (merged into {s.merged_into})" if s.merged_into else ""
    print(f"identity {s.gid}{merged}: seen {_fmt_ts(s.first_ts)} .. {_fmt_ts(s.last_ts)} "
          f"in {', '.join(s.cameras) or '-'}; last in {s.last_camera or '-'} at {_fmt_box(s.last_box_xyxy)}")
    print(_table(["camera", "local_id", "first_ts", "last_ts", "frames"],
                 [[t.camera, str(t.local_id), _fmt_ts(t.first_ts), _fmt_ts(t.last_ts),
                   f"{t.first_frame}-{t.last_frame}"] for t in detail.tracks]))
    if detail.trajectory:
        print(f"trajectory (last {len(detail.trajectory)} points):")
        headers = ["ts", "camera", "local_id", "frame", "box_xyxy", "conf"]
        rows = [[_fmt_ts(p.timestamp_s), p.camera, str(p.local_id), str(p.frame_index), _fmt_box(p.xyxy),
                 f"{p.confidence:.2f}"] for p in detail.trajectory]
        if any(p.ground_xy_m is not None for p in detail.trajectory):  # calibrated cameras: metres on the ground
            headers.append("ground_xy_m")
            for row, p in zip(rows, detail.trajectory):
                row.append("-" if p.ground_xy_m is None else f"{p.ground_xy_m[0]:.2f},{p.ground_xy_m[1]:.2f}")
        print(_table(headers, rows))
    if args.gallery and Path(args.gallery).is_file():
        print(f"gallery written to {args.gallery}")
    return 0


def _q_camera(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import camera_now

    items = camera_now(r, cfg, args.camera, args.window_s)
    if args.json:
        print(json.dumps(_jsonable(items)))
    else:
        print(_table(["gid", "local_id", "last_ts", "frame", "box_xyxy", "conf"],
                     [[str(v.gid) if v.gid is not None else "pending", str(v.local_id), _fmt_ts(v.last_ts),
                       str(v.last_frame), _fmt_box(v.box_xyxy), f"{v.confidence:.2f}"] for v in items]))
    return 0


def _q_window(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import identities_in_window

    if args.end < args.start:
        print(f"mctrack: error: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    items = identities_in_window(r, cfg, args.start, args.end)
    print(json.dumps(_jsonable(items)) if args.json else _identities_table(items))
    return 0


def _q_cameras(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import list_cameras

    cams = list_cameras(r, cfg)
    print(json.dumps(cams) if args.json else "\n".join(cams))
    return 0


def _q_events(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import recent_events

    items = recent_events(r, cfg, args.count)
    if args.json:
        print(json.dumps([{"id": i, **f} for i, f in items]))
    else:
        print(_table(["id", "kind", "gid", "camera", "local_id", "ts", "previous_gid", "similarity"],
                     [[i, f.get("kind", ""), f.get("gid", ""), f.get("camera", ""), f.get("local_id", ""),
                       f.get("ts", ""), f.get("previous_gid", "-"), f.get("similarity", "-")] for i, f in items]))
    return 0


def _q_mapping(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import local_to_global

    mapping = local_to_global(r, cfg, args.camera)
    if args.json:
        print(json.dumps({str(k): v for k, v in sorted(mapping.items())}))
    else:
        print(_table(["local_id", "gid"], [[str(k), str(v)] for k, v in sorted(mapping.items())]))
    return 0


def _q_export(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    from tracker.hub.queries import export_mot, list_cameras

    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()] if args.cameras else None
    if cameras is None and not list_cameras(r, cfg):
        print("mctrack: error: no camera has published under this key prefix (nothing to export); check "
              "--redis-url / redis.key_prefix", file=sys.stderr)
        return 1
    written = export_mot(r, cfg, args.out, cameras)
    if args.json:
        print(json.dumps({c: str(p) for c, p in written.items()}))
    else:
        for camera, path in written.items():
            print(f"{camera}: {path}")
    return 0


def _q_map(r: Any, cfg: Config, args: argparse.Namespace) -> int:
    import cv2

    from tracker.config.geometry import resolve_calibrations
    from tracker.hub.queries import ground_trajectories, list_cameras
    from tracker.offline.ground_map import render_ground_map

    if args.calibration:
        cfg = dataclasses.replace(cfg, geometry=dataclasses.replace(cfg.geometry, calibration_file=args.calibration))
    cameras = sorted(set(list_cameras(r, cfg)) | {c.name for c in cfg.cameras})
    calibrations = resolve_calibrations(cfg, cameras)
    views = {name: (c.image_to_ground, c.image_size) for name, c in calibrations.items() if c.image_size}
    paths = ground_trajectories(r, cfg, args.start, args.end)
    if not paths and not views:
        print("mctrack: error: no ground positions stored and no calibrated camera with an image_size: nothing to "
              "draw (cameras need a calibration: cameras[].calibration or --calibration FILE)", file=sys.stderr)
        return 1
    if not cv2.imwrite(str(args.out), render_ground_map(paths, views)):
        print(f"mctrack: error: could not write {args.out} (check the folder and the .png suffix)", file=sys.stderr)
        return 2
    unsized = sorted(set(calibrations) - set(views))
    note = f"; no field of view for {', '.join(unsized)} (no image_size in its calibration)" if unsized else ""
    print(f"map of {len(paths)} identities and {len(views)} camera fields of view written to {args.out}{note}")
    return 0


_HANDLERS: dict[str, Callable[[Any, Config, argparse.Namespace], int]] = {
    "identities": _q_identities, "identity": _q_identity, "camera": _q_camera, "window": _q_window,
    "cameras": _q_cameras, "events": _q_events, "mapping": _q_mapping, "export": _q_export, "map": _q_map,
}


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    handle = open_redis(args, cfg)
    if handle is None:
        return 2
    try:
        try:
            return _HANDLERS[args.query](handle.client, cfg, args)
        except ValueError as exc:
            print(f"mctrack: error: {exc}", file=sys.stderr)
            return 2
    finally:
        handle.close()
