"""``mctrack worker``: run one live camera (source -> pipeline -> Redis), with heartbeats and metrics.

Usage::

    mctrack worker --camera entrance --source 'rtsp://viewer:${CAM_PASSWORD}@10.0.0.5/stream1' \\
        --redis-url redis://redis:6379 --config site.yaml

``${VAR}`` in the source is expanded from the environment (never logged). Stops cleanly on SIGINT/SIGTERM
(buffered messages are flushed for up to worker.stop_timeout_s). Exit code 2 when the run cannot go on (bad
config, missing model files, unreadable source, unusable Redis URL).
"""

from __future__ import annotations

import argparse

from tracker.cli.common import add_config_args, config_from_args, install_stop_signals

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("worker", help="run one live camera worker (publishes tracklets to Redis)",
                              description="Read one camera, track people and publish to the camera's Redis "
                                          "stream; heartbeats for `mctrack status`, metrics on metrics.port.")
    p.add_argument("--camera", required=True, metavar="NAME", help="camera id (letters, digits, '-', '_')")
    p.add_argument("--source", default=None, metavar="SRC",
                   help="video file, image folder, rtsp:// URL or webcam index; ${VAR} is expanded from the "
                        "environment (default: the camera's source in the config's cameras list)")
    p.add_argument("--fps", type=float, default=None, help="override the source's frame rate")
    add_config_args(p)
    p.add_argument("--redis-url", default=None, metavar="URL",
                   help="redis://host:port, rediss:// (TLS) or unix:///path (default redis.url; empty: an embedded "
                        "Redis private to this worker). Password: in the URL or $MCTRACK_REDIS_PASSWORD")
    p.add_argument("--metrics-port", type=int, default=None, help="override metrics.port (0 = off)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.config import ConfigError
    from tracker.service.worker import run_worker
    from tracker.telemetry.logs import set_camera_id, setup_logging

    cfg = config_from_args(args)
    setup_logging(args.log_level or cfg.logging.level)
    set_camera_id(args.camera)
    configured = {c.name: c for c in cfg.cameras}
    source = args.source
    fps = args.fps
    if source is None:
        cam = configured.get(args.camera)
        if cam is None:
            raise ConfigError(f"--source is missing and camera {args.camera!r} is not in the config's cameras list "
                              f"({sorted(configured) or 'empty'}): pass --source")
        source = cam.source
        fps = cam.fps if fps is None else fps
    stop, restore_signals = install_stop_signals()
    try:
        result = run_worker(cfg, args.camera, source, redis_url=args.redis_url, fps=fps or 0.0, stop=stop,
                            metrics_port=args.metrics_port)
    finally:
        restore_signals()
    print(f"worker {args.camera}: {result.reason}; {result.frames_processed} frames processed, "
          f"{result.messages_sent} messages sent, {result.messages_dropped} dropped")
    return result.exit_code
