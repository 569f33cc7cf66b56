"""How old the web console's camera snapshots are during a live ``mctrack run``, and what one snapshot costs.

1. Encode cost (``--encode-only`` or first): a 768x576 frame of pets-s2l1-dev/full/cam1 -> what the worker does
   when a snapshot is due: the copy in the frame loop, then (in the outbox's writer thread) scale to 640 wide,
   draw the boxes, JPEG encode; median and p95 over 200 runs, and the JPEG size.
2. Age: starts its own embedded Redis and ``mctrack run`` with the cameras (video files played at their own fps
   like live cameras, ``source.realtime``; each looped ``--loops`` times so the run outlasts the warm-up and the
   window), waits until every camera has a snapshot, then every ``--period-s`` reads each camera's
   ``cam:{camera}:snapshot`` and records ``now - wall_ts`` for ``--duration-s``; prints max / median / p95 per
   camera (a missing snapshot counts as infinitely old) and writes them as JSON with ``--json``.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/snapshot_age.py --config config/pets-dev.yaml [--json out.json]

The product requirement (tests/system/test_snapshots.py runs this script): max age <= 2 s with the default
``snapshots.interval_s`` (1 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from tracker.bus.connection import connect
from tracker.bus.schema import Keys
from tracker.bus.snapshot import read_snapshot
from tracker.config import RedisConfig, load_config
from tracker.pipeline.snapshot_sink import render_snapshot

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "pets-s2l1-dev"
DEFAULT_CAMERAS = [f"cam1={DATA / 'full' / 'cam1' / 'video.mp4'}", f"cam2={DATA / 'two-cam' / 'cam2' / 'video.mp4'}"]


@dataclass(frozen=True)
class AgeStats:
    """Snapshot ages of one camera over the window, seconds (``inf`` when a sample found no snapshot)."""

    samples: int
    missing: int
    max_s: float
    median_s: float
    p95_s: float


def age_stats(ages_s: list[float]) -> AgeStats:
    a = np.asarray(ages_s, dtype=np.float64)
    finite = a[np.isfinite(a)]
    missing = int(a.size - finite.size)
    if finite.size == 0:
        return AgeStats(int(a.size), missing, math.inf, math.inf, math.inf)
    return AgeStats(int(a.size), missing, math.inf if missing else float(finite.max()),
                    float(np.median(finite)), float(np.percentile(finite, 95)))


def encode_cost(video: Path, runs: int = 200) -> dict[str, float]:
    """ms of the snapshot work on one frame of ``video`` (median, p95) and the JPEG's size in bytes."""
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, image = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read a frame of {video}")
    boxes = [(i, (50.0 + 60 * i, 150.0, 100.0 + 60 * i, 400.0)) for i in range(8)]  # 8 people
    copy_ms, render_ms = [], []
    jpeg = b""
    for _ in range(runs):
        t0 = time.perf_counter()
        private = image.copy()
        t1 = time.perf_counter()
        jpeg, _, _ = render_snapshot(private, boxes, {0: 3, 1: 4}, "cam1  frame 100", 640, 70)
        t2 = time.perf_counter()
        copy_ms.append((t1 - t0) * 1e3)
        render_ms.append((t2 - t1) * 1e3)
    return {"frame_width_px": float(image.shape[1]), "frame_height_px": float(image.shape[0]),
            "copy_median_ms": float(np.median(copy_ms)), "render_median_ms": float(np.median(render_ms)),
            "render_p95_ms": float(np.percentile(render_ms, 95)), "jpeg_bytes": float(len(jpeg))}


def looped_clip(video: Path, loops: int, out: Path) -> Path:
    """``video`` played ``loops`` times in a row, as one mp4 (same size and fps)."""
    if loops <= 1:
        return video
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 7.0
    frames = []
    ok, img = cap.read()
    while ok:
        frames.append(img)
        ok, img = cap.read()
    cap.release()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for _ in range(loops):
        for img in frames:
            writer.write(img)
    writer.release()
    return out


def sample_ages(client: Any, keys: Keys, cameras: list[str], duration_s: float,
                period_s: float) -> dict[str, list[float]]:
    """Every ``period_s`` for ``duration_s``: each camera's ``now - wall_ts`` (inf: no snapshot)."""
    ages: dict[str, list[float]] = {c: [] for c in cameras}
    end = time.monotonic() + duration_s
    next_at = time.monotonic()
    while next_at < end:
        for cam in cameras:
            snap = read_snapshot(client, keys, cam)
            ages[cam].append(math.inf if snap is None else max(0.0, time.time() - snap.wall_ts))
        next_at += period_s
        time.sleep(max(0.0, next_at - time.monotonic()))
    return ages


def sample_wall_ages(base_url: str, cameras: list[str], duration_s: float, period_s: float,
                     refresh_s: float) -> dict[str, list[float]]:
    """What the web console's camera wall shows: like its page (tracker/ui/static/wall.js), fetch ``/api/cameras``
    every ``refresh_s`` and keep the snapshot it names; every ``period_s`` record how old the displayed snapshot is
    (now - the time it was published; inf before the first one)."""
    import urllib.request

    shown: dict[str, float] = {c: math.inf for c in cameras}  # camera -> publish time (Unix s) of the frame shown
    ages: dict[str, list[float]] = {c: [] for c in cameras}
    end = time.monotonic() + duration_s
    next_fetch = time.monotonic()
    next_sample = time.monotonic()
    while next_sample < end:
        if time.monotonic() >= next_fetch:
            with urllib.request.urlopen(f"{base_url}/api/cameras", timeout=5) as resp:
                fetched = time.time()
                for cam in json.load(resp)["cameras"]:
                    if cam["name"] in shown and cam.get("snapshot_age_s") is not None:
                        shown[cam["name"]] = fetched - float(cam["snapshot_age_s"])
            next_fetch += refresh_s
        for cam in cameras:
            ages[cam].append(max(0.0, time.time() - shown[cam]) if math.isfinite(shown[cam]) else math.inf)
        next_sample += period_s
        time.sleep(max(0.0, min(next_sample, next_fetch) - time.monotonic()))
    return ages


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, limit_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + limit_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the web console did not answer at {url} within {limit_s:g} s") from None
            time.sleep(0.2)


def run_and_measure(args: argparse.Namespace, work: Path) -> dict[str, AgeStats]:
    cfg = load_config(args.config, args.set)
    keys = Keys(cfg.redis.key_prefix)
    cameras: dict[str, Path] = {}
    for spec in args.camera or DEFAULT_CAMERAS:
        name, _, path = spec.partition("=")
        cameras[name] = looped_clip(Path(path), args.loops, work / f"{name}.mp4")
    data: dict[str, Any] = {}
    if args.config:
        data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    data.setdefault("source", {})["realtime"] = True
    data["cameras"] = [{"name": n, "source": str(p)} for n, p in cameras.items()]
    site = work / "site.yaml"
    site.write_text(yaml.safe_dump(data))
    handle = connect(RedisConfig())  # a private embedded Redis; the children reach it by its unix socket
    log = open(work / "run.log", "ab")
    port = _free_port() if args.via_ui else 0
    ui_sets = ["supervisor.start_ui=true", f"ui.port={port}"] if args.via_ui else []
    sets = [x for item in [*args.set, *ui_sets] for x in ("--set", item)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tracker", "run", "--config", str(site), "--redis-url",
                             handle.child_url, *sets], cwd=Path.cwd(), stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + args.warmup_limit_s
        while any(read_snapshot(handle.client, keys, c) is None for c in cameras):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"no snapshot of every camera within {args.warmup_limit_s:g} s (mctrack run "
                                 f"exit {proc.poll()}); see {work / 'run.log'}")
            time.sleep(0.2)
        if args.via_ui:
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/healthz", args.warmup_limit_s)
            ages = sample_wall_ages(base, list(cameras), args.duration_s, args.period_s, cfg.ui.wall_refresh_s)
        else:
            ages = sample_ages(handle.client, keys, list(cameras), args.duration_s, args.period_s)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        handle.close()
    return {cam: age_stats(a) for cam, a in ages.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="YAML config (models); its cameras are replaced by --camera")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--camera", action="append", default=None, metavar="NAME=VIDEO",
                   help="camera (repeatable); default pets-s2l1-dev full/cam1 (768x576) and two-cam/cam2")
    p.add_argument("--loops", type=int, default=2, help="play each video this many times (default 2: ~114 s)")
    p.add_argument("--duration-s", type=float, default=20.0, help="sampling window (default 20)")
    p.add_argument("--period-s", type=float, default=0.2, help="sampling period (default 0.2)")
    p.add_argument("--warmup-limit-s", type=float, default=120.0, help="longest wait for the first snapshots")
    p.add_argument("--encode-only", action="store_true", help="only measure the encode cost")
    p.add_argument("--via-ui", action="store_true", help="also start the web console (supervisor.start_ui) and "
                   "measure the age of the frame its camera wall shows (polling /api/cameras every "
                   "ui.wall_refresh_s, as the page does) instead of the Redis key's")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--work", type=Path, help="keep the looped clips, site config and run.log here (default: a "
                   "temporary folder, removed)")
    args = p.parse_args()

    cost = encode_cost(DATA / "full" / "cam1" / "video.mp4")
    print(f"snapshot of a {cost['frame_width_px']:.0f}x{cost['frame_height_px']:.0f} frame: copy in the frame loop "
          f"{cost['copy_median_ms']:.3f} ms; scale to 640 wide + draw + JPEG (writer thread) median "
          f"{cost['render_median_ms']:.2f} ms, p95 {cost['render_p95_ms']:.2f} ms; {cost['jpeg_bytes'] / 1024:.0f} kB")
    result: dict[str, Any] = {"encode": cost}
    if not args.encode_only:
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            stats = run_and_measure(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="snapshot-age-") as tmp:
                stats = run_and_measure(args, Path(tmp))
        for cam, st in stats.items():
            print(f"{cam}: {st.samples} samples over {args.duration_s:g} s, age max {st.max_s:.2f} s, median "
                  f"{st.median_s:.2f} s, p95 {st.p95_s:.2f} s, missing {st.missing}")
        result["ages"] = {cam: asdict(st) for cam, st in stats.items()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
