"""Synthetic load on the hub (``mctrack hub-bench``): throughput, assignment latency and Redis memory.

A generator process publishes synthetic tracklet updates through :class:`tracker.bus.publisher.TrackletPublisher`
(the real message format and embedding cadence) for ``cameras`` simulated cameras at ``fps`` with about ``people``
confirmed tracks each. People come and go (dwell 4-20 s) and often come back, in the same or another camera; each
person has a random 512-d appearance, each camera a colour bias, each embedding noise. The hub runs in this
process. Three phases:

1. throughput: ``throughput_s`` seconds of camera time are published first, then the hub drains them: updates/s and
   messages/s (the hub's capacity).
2. latency: the generator publishes in real time (``cameras x fps x people`` updates/s) for ``latency_s`` seconds
   while the hub serves: the processed rate and p50 / p99 latency from XADD to the committed assignment.
3. memory: ``memory_s`` seconds of camera time as fast as possible with ``hub.retention_s`` and
   ``hub.gallery_retention_s`` = ``retention_s``: Redis ``used_memory`` at the start, every tenth of the run and at
   the end (bounded when the tail stays flat).

Nothing is asserted: :func:`run_hub_load` returns the figures and reports progress lines through a callback.
Each phase works under a key prefix of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import cast

import numpy as np
import redis
from redis.typing import EncodableT, FieldT

from tracker.bus.connection import RedisHandle
from tracker.config import Config, load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub

__all__ = ["SyntheticWorld", "HubLoadSettings", "HubLoadReport", "ThroughputFigures", "LatencyFigures",
           "MemoryFigures", "MemorySample", "run_hub_load"]

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

    def step(self) -> tuple[int, float, dict[str, list[TrackletUpdate]]]:
        """Advance one frame: (frame_index, timestamp_s, camera -> list[TrackletUpdate])."""
        self.frame += 1
        ts = (self.frame - 1) / self.fps
        out: dict[str, list[TrackletUpdate]] = {}
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
              paced: bool, seed: int, start_frame: int, counter: Synchronized[int]) -> None:
    """Generator process: publish ``duration_s`` of camera time.

    Unpaced: build and publish frame by frame as fast as possible. Paced (real time): all messages are built
    first (same publisher cadence), then sent on schedule with each camera's frames spread over the frame period
    (independent cameras are not in phase), so that building them does not compete with the hub for the CPU.
    """
    from tracker.bus.connection import connect
    from tracker.bus.publisher import TrackletPublisher
    from tracker.bus.schema import Keys

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
    # bytes -> bytes fields are within redis-py's field/value types (xadd's dict parameter is invariant, hence the cast)
    plan: list[list[tuple[str, dict[FieldT, EncodableT], int]]] = []
    for _ in range(frames):
        frame, ts, per_camera = world.step()
        plan.append([(keys.updates(c), cast("dict[FieldT, EncodableT]", pubs[c].encode(ups, None, frame, ts)),
                      len(ups)) for c, ups in per_camera.items()])
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


@dataclass(frozen=True)
class HubLoadSettings:
    """The simulated camera network and the phases to run (a phase with 0 seconds is skipped).

    Attributes:
        cameras: simulated cameras; people: confirmed tracks per camera at any time; fps: frames per second per
            camera.
        throughput_s: camera seconds pre-published for phase 1.
        latency_s: wall seconds of real-time publishing in phase 2.
        memory_s: camera seconds of the long run (phase 3), with hub retention ``retention_s`` seconds.
        seed: the synthetic world's random seed.
    """

    cameras: int = 50
    people: int = 8
    fps: float = 12.5
    throughput_s: float = 20.0
    latency_s: float = 30.0
    memory_s: float = 300.0
    retention_s: float = 20.0
    seed: int = 0


@dataclass(frozen=True)
class ThroughputFigures:
    """Phase 1: the hub draining a pre-published backlog (``seconds`` of wall time)."""

    updates: int
    messages: int
    seconds: float
    updates_per_s: float
    messages_per_s: float
    identities: int


@dataclass(frozen=True)
class LatencyFigures:
    """Phase 2: real-time publishing; latency from XADD to the committed assignment, milliseconds."""

    published_updates: int
    processed_updates_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    samples: int


@dataclass(frozen=True)
class MemorySample:
    """Redis ``used_memory`` (bytes) and identities in the gallery after ``camera_s`` seconds of camera time."""

    camera_s: float
    used_memory: int
    identities: int


@dataclass(frozen=True)
class MemoryFigures:
    """Phase 3: Redis memory (bytes) over a long run with retention ``retention_s``; ``seconds`` of wall time."""

    retention_s: float
    used_memory_start: int
    used_memory_end: int
    used_memory_max: int
    samples: list[MemorySample]
    updates: int
    seconds: float


@dataclass
class HubLoadReport:
    """What :func:`run_hub_load` measured (a phase that was skipped is None)."""

    cameras: int
    people_per_camera: int
    fps: float
    offered_updates_per_s: float
    throughput: ThroughputFigures | None = None
    latency: LatencyFigures | None = None
    memory: MemoryFigures | None = None

    def to_json(self) -> dict[str, object]:
        """One JSON-able object; skipped phases are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class _Generator:
    proc: BaseProcess
    counter: Synchronized[int] = field(repr=False)


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _run_generator(url: str, overrides: list[str], s: HubLoadSettings, duration_s: float, paced: bool,
                   start_frame: int) -> _Generator:
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    proc = ctx.Process(target=_generate, args=(url, overrides, s.cameras, s.people, s.fps, duration_s, paced,
                                               s.seed, start_frame, counter), daemon=True)
    proc.start()
    return _Generator(proc, counter)


def run_hub_load(handle: RedisHandle, settings: HubLoadSettings, config_path: str | None = None,
                 overrides: list[str] | None = None,
                 progress: Callable[[str], None] = lambda line: None) -> HubLoadReport:
    """Run the phases of ``settings`` against the Redis of ``handle`` (see the module docstring).

    Args:
        handle: the Redis to load (its ``child_url`` is given to the generator processes).
        settings: the simulated network and phase lengths.
        config_path, overrides: the configuration (YAML file and KEY=VALUE overrides); each phase adds its own key
            prefix and retention. The generator processes get the overrides only.
        progress: called with one human-readable line per result.
    """
    s = settings
    user = list(overrides or [])
    base = ["hub.thumbnails_per_track=0"]

    def config(extra: list[str]) -> Config:
        return load_config(config_path, user + base + extra)

    r = handle.client
    report = HubLoadReport(s.cameras, s.people, s.fps, s.cameras * s.people * s.fps)
    # ---- phase 1: throughput (drain a pre-published backlog)
    if s.throughput_s > 0:
        prefix1 = f"mctrack-bench1-{int(time.time())}"
        o1 = [f"redis.key_prefix={prefix1}", f"hub.stream_maxlen={10**7}"]
        gen = _run_generator(handle.child_url, user + base + o1, s, s.throughput_s, False, 0)
        gen.proc.join()
        hub = Hub(r, config(o1), consumer_name="bench")
        t0 = time.perf_counter()
        hub.drain()
        elapsed = time.perf_counter() - t0
        report.throughput = ThroughputFigures(hub.stats.updates, hub.stats.messages, elapsed,
                                              hub.stats.updates / elapsed, hub.stats.messages / elapsed,
                                              len(hub.engine.identities))
        hub.close()
        progress(f"throughput: {hub.stats.updates} updates ({hub.stats.messages} frame messages) in "
                 f"{elapsed:.1f} s = {hub.stats.updates / elapsed:,.0f} updates/s")
        _delete_prefix(r, prefix1)
        del hub
        gc.collect()
        time.sleep(SETTLE_S)  # let Redis free the deleted backlog before timing latencies
    # ---- phase 2: latency (real-time publishing, hub serving concurrently)
    if s.latency_s > 0:
        prefix2 = f"mctrack-bench2-{int(time.time())}"
        o2 = [f"redis.key_prefix={prefix2}"]
        hub = Hub(r, config(o2), consumer_name="bench")
        gen = _run_generator(handle.child_url, user + base + o2, s, s.latency_s, True, 0)
        while gen.proc.is_alive() and gen.counter.value == 0:  # the generator builds its messages first
            time.sleep(0.01)
        t0 = time.perf_counter()
        warm = False
        n0, t_warm = 0, t0
        while gen.proc.is_alive():
            if not warm and time.perf_counter() - t0 > min(WARMUP_S, s.latency_s / 3):
                hub.latencies_ms.clear()  # drop start-up (stream discovery, first decisions)
                n0, t_warm, warm = hub.stats.updates, time.perf_counter(), True
            hub.step(block_ms=20)
        elapsed = time.perf_counter() - t_warm
        hub.drain()
        pct = hub.latency_percentiles_ms((50, 99, 99.9))
        done = hub.stats.updates - n0
        report.latency = LatencyFigures(int(gen.counter.value), done / elapsed, pct[50], pct[99], pct[99.9],
                                        len(hub.latencies_ms))
        hub.close()
        _delete_prefix(r, prefix2)
        progress(f"latency: {done / elapsed:,.0f} updates/s processed while publishing in real time; "
                 f"XADD -> committed p50 {pct[50]:.1f} ms, p99 {pct[99]:.1f} ms, p99.9 {pct[99.9]:.1f} ms "
                 f"({len(hub.latencies_ms)} frame messages)")
    # ---- phase 3: memory over a long run with retention
    if s.memory_s > 0:
        prefix3 = f"mctrack-bench3-{int(time.time())}"
        o3 = [f"redis.key_prefix={prefix3}", f"hub.retention_s={s.retention_s}",
              f"hub.gallery_retention_s={s.retention_s}", "hub.sweep_interval_s=1"]
        hub = Hub(r, config(o3), consumer_name="bench")
        mem_start = _used_memory(r)
        samples: list[MemorySample] = []
        chunk = s.memory_s / MEMORY_SAMPLES
        frames_done = 0
        t0 = time.perf_counter()
        for i in range(MEMORY_SAMPLES):
            gen = _run_generator(handle.child_url, user + base + o3, s, chunk, False, frames_done)
            while gen.proc.is_alive():
                hub.step(block_ms=20)
            hub.drain()
            hub.sweep()
            frames_done += int(round(chunk * s.fps))
            samples.append(MemorySample((i + 1) * chunk, _used_memory(r), len(hub.engine.identities)))
            progress(f"memory: camera time {samples[-1].camera_s:6.0f} s  used_memory "
                     f"{samples[-1].used_memory / 2**20:7.1f} MiB "
                     f"identities in gallery {samples[-1].identities}")
        peak = max(m.used_memory for m in samples)
        report.memory = MemoryFigures(s.retention_s, mem_start, samples[-1].used_memory, peak, samples,
                                      hub.stats.updates, time.perf_counter() - t0)
        hub.close()
        _delete_prefix(r, prefix3)
        progress(f"memory: used_memory {mem_start / 2**20:.1f} MiB at start, {samples[-1].used_memory / 2**20:.1f} "
                 f"MiB after {s.memory_s:.0f} s of camera time ({hub.stats.updates} updates), max "
                 f"{peak / 2**20:.1f} MiB")
    return report


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Remove the benchmark's own keys (only those under its unique prefix)."""
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
