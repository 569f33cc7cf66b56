"""``mctrack hub-bench``: hub throughput, assignment latency and Redis memory with synthetic cameras.

Usage::

    mctrack hub-bench [--cameras 50] [--people 8] [--fps 10] [--throughput-s 20] [--latency-s 30]
                      [--memory-s 300] [--retention-s 20] [--redis-url URL] [--json]

A generator process publishes synthetic tracklet updates through :class:`tracker.bus.publisher.TrackletPublisher`
(the real message format and embedding cadence) for ``--cameras`` simulated cameras at ``--fps`` with about
``--people`` confirmed tracks each. People come and go (dwell 4-20 s) and often come back, in the same or another
camera; each person has a random 512-d appearance, each camera a colour bias, each embedding noise. The hub runs
in this process. Three phases:

1. throughput: ``--throughput-s`` seconds of camera time are published first, then the hub drains them; prints
   updates/s and messages/s (the hub's capacity).
2. latency: the generator publishes in real time (``cameras x fps x people`` updates/s) for ``--latency-s`` seconds
   while the hub serves; prints the processed rate and p50 / p99 latency from XADD to the committed assignment.
3. memory: ``--memory-s`` seconds of camera time as fast as possible with ``hub.retention_s`` and
   ``hub.gallery_retention_s`` = ``--retention-s``; prints Redis ``used_memory`` at the start, every tenth of
   the run and at the end (bounded when the tail stays flat).

Nothing is asserted: figures are printed (``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracker.cli.common import add_config_args, config_from_args
from tracker.cli.hub_cmd import add_redis_args, open_redis

__all__ = ["register", "run", "SyntheticWorld"]

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 512
CAMERA_BIAS_SCALE = 0.6       # norm of each camera's colour bias relative to a person's unit appearance
EMBEDDING_NOISE = 0.5         # per-embedding noise norm relative to the unit appearance
DWELL_S = (4.0, 20.0)         # how long a person stays in a camera
RETURN_PROBABILITY = 0.5      # a new track is a returning person (else a new one)
POOL_PER_CAMERA = 20          # people per camera in the population
BOX_HEIGHT_PX = (60.0, 200.0)
IMAGE_SIZE = (1280, 720)
MEMORY_SAMPLES = 10
SETTLE_S = 2.0
WARMUP_S = 5.0


@dataclass
class _Person:
    pid: int
    appearance: np.ndarray


@dataclass
class _Slot:
    person: _Person
    local_id: int
    leave_ts: float
    xyxy: np.ndarray
    velocity: np.ndarray


class SyntheticWorld:
    """Deterministic synthetic camera network producing per-frame TrackletUpdates."""

    def __init__(self, cameras: int, people: int, fps: float, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.fps = fps
        self.camera_ids = [f"cam{i:03d}" for i in range(cameras)]
        self.people_per_camera = people
        bias = self.rng.normal(size=(cameras, EMBEDDING_DIM))
        self.bias = {c: CAMERA_BIAS_SCALE * b / np.linalg.norm(b) for c, b in zip(self.camera_ids, bias)}
        pool = self.rng.normal(size=(cameras * POOL_PER_CAMERA, EMBEDDING_DIM)) + 1.0  # non-negative-ish like ReLU
        self.pool = [_Person(i, a / np.linalg.norm(a)) for i, a in enumerate(pool)]
        self.busy: set[int] = set()
        self.next_local = {c: 1 for c in self.camera_ids}
        self.slots: dict[str, list[_Slot]] = {c: [] for c in self.camera_ids}
        self.frame = 0

    def _spawn(self, camera: str, ts: float) -> _Slot:
        free = [p for p in self.pool if p.pid not in self.busy]
        person = free[int(self.rng.integers(len(free)))]
        self.busy.add(person.pid)
        lid = self.next_local[camera]
        self.next_local[camera] += 1
        h = float(self.rng.uniform(*BOX_HEIGHT_PX))
        x, y = self.rng.uniform(0, IMAGE_SIZE[0] - h / 2), self.rng.uniform(0, IMAGE_SIZE[1] - h)
        return _Slot(person, lid, ts + float(self.rng.uniform(*DWELL_S)),
                     np.array([x, y, x + h / 2.5, y + h], np.float32),
                     self.rng.normal(scale=h / 4, size=2).astype(np.float32))

    def step(self) -> tuple[int, float, dict[str, list[Any]]]:
        """Advance one frame: (frame_index, timestamp_s, camera -> list[TrackletUpdate])."""
        from tracker.core.tracklet import TrackletUpdate

        self.frame += 1
        ts = (self.frame - 1) / self.fps
        out: dict[str, list[Any]] = {}
        for camera in self.camera_ids:
            slots = self.slots[camera]
            for s in [s for s in slots if s.leave_ts <= ts]:
                slots.remove(s)
                self.busy.discard(s.person.pid)
            while len(slots) < self.people_per_camera:
                slots.append(self._spawn(camera, ts))
            ups = []
            noise = self.rng.normal(size=(len(slots), EMBEDDING_DIM))
            noise *= EMBEDDING_NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
            for s, n in zip(slots, noise):
                s.xyxy = s.xyxy + np.r_[s.velocity, s.velocity] / self.fps
                e = s.person.appearance + self.bias[camera] + n
                ups.append(TrackletUpdate(camera, s.local_id, self.frame, ts, s.xyxy.copy(), 0.9,
                                          (e / np.linalg.norm(e)).astype(np.float32), 0.8))
            out[camera] = ups
        return self.frame, ts, out


def _generate(url: str, overrides: list[str], cameras: int, people: int, fps: float, duration_s: float,
              paced: bool, seed: int, start_frame: int, counter: Any) -> None:
    """Generator process: publish ``duration_s`` of camera time.

    Unpaced: build and publish frame by frame as fast as possible. Paced (real time): all messages are built
    first (same publisher cadence), then sent on schedule with each camera's frames spread over the frame period
    (independent cameras are not in phase), so that building them does not compete with the hub for the CPU.
    """
    from tracker.bus.connection import connect
    from tracker.bus.publisher import TrackletPublisher
    from tracker.bus.schema import Keys
    from tracker.config import load_config

    cfg = load_config(None, overrides)
    handle = connect(cfg.redis, url)
    world = SyntheticWorld(cameras, people, fps, seed)
    for _ in range(start_frame):
        world.step()
    pubs = {c: TrackletPublisher(handle.client, cfg, c) for c in world.camera_ids}
    frames = int(round(duration_s * fps))
    if not paced:
        for _ in range(frames):
            _, _, per_camera = world.step()
            for camera, ups in per_camera.items():
                pubs[camera].publish(ups)
            with counter.get_lock():
                counter.value += sum(len(u) for u in per_camera.values())
        handle.close()
        return
    keys = Keys(cfg.redis.key_prefix)
    plan: list[list[tuple[str, dict[bytes, bytes], int]]] = []
    for _ in range(frames):
        frame, ts, per_camera = world.step()
        plan.append([(keys.updates(c), pubs[c].encode(ups, None, frame, ts), len(ups))
                     for c, ups in per_camera.items()])
    handle.client.sadd(keys.cameras(), *world.camera_ids)
    t0 = time.perf_counter()
    for i, messages in enumerate(plan):
        for j, (stream, fields, n) in enumerate(messages):
            delay = t0 + (i + j / len(messages)) / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            handle.client.xadd(stream, fields, maxlen=cfg.hub.stream_maxlen, approximate=True)
            with counter.get_lock():
                counter.value += n
    handle.close()


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


def _used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def _run_generator(url: str, overrides: list[str], args: argparse.Namespace, duration_s: float, paced: bool,
                   start_frame: int) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    proc = ctx.Process(target=_generate, args=(url, overrides, args.cameras, args.people, args.fps, duration_s,
                                               paced, args.seed, start_frame, counter), daemon=True)
    proc.start()
    return proc, counter


def run(args: argparse.Namespace) -> int:
    from tracker.hub.consumer import Hub

    base = ["hub.thumbnails_per_track=0"]
    cfg = config_from_args(args, base)
    handle = open_redis(args, cfg)
    if handle is None:
        return 2
    r = handle.client
    out: dict[str, Any] = {"cameras": args.cameras, "people_per_camera": args.people, "fps": args.fps,
                           "offered_updates_per_s": args.cameras * args.people * args.fps}
    try:
        # ---- phase 1: throughput (drain a pre-published backlog)
        if args.throughput_s > 0:
            prefix1 = f"mctrack-bench1-{int(time.time())}"
            o1 = base + [f"redis.key_prefix={prefix1}", f"hub.stream_maxlen={10**7}"]
            proc, counter = _run_generator(handle.child_url, list(args.set) + o1, args, args.throughput_s, False, 0)
            proc.join()
            hub = Hub(r, config_from_args(args, o1), consumer_name="bench")
            t0 = time.perf_counter()
            hub.drain()
            elapsed = time.perf_counter() - t0
            out["throughput"] = {"updates": hub.stats.updates, "messages": hub.stats.messages, "seconds": elapsed,
                                 "updates_per_s": hub.stats.updates / elapsed,
                                 "messages_per_s": hub.stats.messages / elapsed,
                                 "identities": len(hub.engine.identities)}
            hub.close()
            _say(args, f"throughput: {hub.stats.updates} updates ({hub.stats.messages} frame messages) in "
                       f"{elapsed:.1f} s = {hub.stats.updates / elapsed:,.0f} updates/s")
            _delete_prefix(r, prefix1)
            del hub
            gc.collect()
            time.sleep(SETTLE_S)  # let Redis free the deleted backlog before timing latencies
        # ---- phase 2: latency (real-time publishing, hub serving concurrently)
        if args.latency_s > 0:
            prefix2 = f"mctrack-bench2-{int(time.time())}"
            o2 = base + [f"redis.key_prefix={prefix2}"]
            hub = Hub(r, config_from_args(args, o2), consumer_name="bench")
            proc, counter = _run_generator(handle.child_url, list(args.set) + o2, args, args.latency_s, True, 0)
            while proc.is_alive() and counter.value == 0:  # the generator builds its messages first
                time.sleep(0.01)
            t0 = time.perf_counter()
            warm = False
            while proc.is_alive():
                if not warm and time.perf_counter() - t0 > min(WARMUP_S, args.latency_s / 3):
                    hub.latencies_ms.clear()  # drop start-up (stream discovery, first decisions)
                    n0, t_warm, warm = hub.stats.updates, time.perf_counter(), True
                hub.step(block_ms=20)
            elapsed = time.perf_counter() - (t_warm if warm else t0)
            hub.drain()
            pct = hub.latency_percentiles_ms((50, 99, 99.9))
            done = hub.stats.updates - (n0 if warm else 0)
            out["latency"] = {"published_updates": int(counter.value), "processed_updates_per_s": done / elapsed,
                              "p50_ms": pct[50], "p99_ms": pct[99], "p999_ms": pct[99.9],
                              "samples": len(hub.latencies_ms)}
            hub.close()
            _delete_prefix(r, prefix2)
            _say(args, f"latency: {done / elapsed:,.0f} updates/s processed while publishing in real time; "
                       f"XADD -> committed p50 {pct[50]:.1f} ms, p99 {pct[99]:.1f} ms, p99.9 {pct[99.9]:.1f} ms "
                       f"({len(hub.latencies_ms)} frame messages)")
        # ---- phase 3: memory over a long run with retention
        if args.memory_s > 0:
            prefix3 = f"mctrack-bench3-{int(time.time())}"
            o3 = base + [f"redis.key_prefix={prefix3}", f"hub.retention_s={args.retention_s}",
                         f"hub.gallery_retention_s={args.retention_s}", "hub.sweep_interval_s=1"]
            hub = Hub(r, config_from_args(args, o3), consumer_name="bench")
            mem_start = _used_memory(r)
            samples: list[tuple[float, int, int]] = []
            chunk = args.memory_s / MEMORY_SAMPLES
            frames_done = 0
            t0 = time.perf_counter()
            for i in range(MEMORY_SAMPLES):
                proc, counter = _run_generator(handle.child_url, list(args.set) + o3, args, chunk, False, frames_done)
                while proc.is_alive():
                    hub.step(block_ms=20)
                hub.drain()
                hub.sweep()
                frames_done += int(round(chunk * args.fps))
                samples.append(((i + 1) * chunk, _used_memory(r), len(hub.engine.identities)))
                _say(args, f"memory: camera time {samples[-1][0]:6.0f} s  used_memory "
                           f"{samples[-1][1] / 2**20:7.1f} MiB "
                           f"identities in gallery {samples[-1][2]}")
            out["memory"] = {"retention_s": args.retention_s, "used_memory_start": mem_start,
                             "used_memory_end": samples[-1][1], "used_memory_max": max(s[1] for s in samples),
                             "samples": [{"camera_s": s[0], "used_memory": s[1], "identities": s[2]} for s in samples],
                             "updates": hub.stats.updates, "seconds": time.perf_counter() - t0}
            hub.close()
            _delete_prefix(r, prefix3)
            _say(args, f"memory: used_memory {mem_start / 2**20:.1f} MiB at start, {samples[-1][1] / 2**20:.1f} MiB "
                       f"after {args.memory_s:.0f} s of camera time ({hub.stats.updates} updates), max "
                       f"{max(s[1] for s in samples) / 2**20:.1f} MiB")
        if args.json:
            print(json.dumps(out))
        return 0
    finally:
        handle.close()


def _delete_prefix(client: Any, prefix: str) -> None:
    """Remove the benchmark's own keys (only those under its unique prefix)."""
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, flush=True)
    else:
        print(text, file=sys.stderr, flush=True)
