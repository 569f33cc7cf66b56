"""Soak benchmark: a long looped replay through the live path (pipeline -> outbox -> Redis -> hub), printing
process RSS and Redis ``used_memory`` at the start, after each loop and at the end, to show memory stays flat.

Frame indices and timestamps keep increasing across loops (loop k of an N-frame file is frames kN+1 .. kN+N), so
the tracker, the hub and retention see one long recording. Redis memory is bounded by ``hub.retention_s`` (camera
time) and the stream caps; use a retention shorter than the run to see it level off.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.base import Frame, SourceError
from tracker.config import Config
from tracker.pipeline.camera import CameraPipeline, FrameResult
from tracker.pipeline.loop import FrameLoop
from tracker.pipeline.publish_sink import PublishSink

if TYPE_CHECKING:
    from tracker.hub.consumer import Hub

__all__ = ["SoakSample", "SoakReport", "run_soak", "current_rss_mb"]

logger = logging.getLogger(__name__)

_KIB_PER_MIB = 1024.0
_BYTES_PER_MIB = 1024.0 * 1024.0
_FLUSH_TIMEOUT_S = 30.0
_CAMERA = "soak"


def current_rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / _KIB_PER_MIB
    return 0.0  # pragma: no cover - not Linux


@dataclass
class SoakSample:
    label: str
    frames: int
    wall_s: float
    rss_mb: float
    redis_used_mb: float
    redis_keys: int
    identities: int
    outbox_depth: int


@dataclass
class SoakReport:
    video: str
    loops: int
    frames_per_loop: int
    samples: list[SoakSample] = field(default_factory=list)
    messages_sent: int = 0
    messages_dropped: int = 0
    hub_messages: int = 0

    @property
    def rss_growth_mb(self) -> float:
        """RSS growth from the end of the first loop (models warm) to the end."""
        loops = [s for s in self.samples if s.label.startswith("loop")]
        return loops[-1].rss_mb - loops[0].rss_mb if len(loops) >= 2 else 0.0


def _redis_sample(client: Any) -> tuple[float, int]:
    info = client.info("memory")
    return float(info["used_memory"]) / _BYTES_PER_MIB, int(client.dbsize())


def run_soak(cfg: Config, video: str, loops: int, *, redis_url: str | None = None, max_frames: int = 0,
             on_sample: Callable[[SoakSample], None] | None = None) -> SoakReport:
    """Replay ``video`` ``loops`` times as camera ``soak`` with an in-process hub; sample memory per loop."""
    from tracker.bus.connection import connect
    from tracker.bus.outbox import Outbox
    from tracker.bus.publisher import TrackletPublisher
    from tracker.bus.write_behind import WriteBehindClient
    from tracker.hub.consumer import Hub
    from tracker.models.factory import build_models

    if loops < 1:
        raise ValueError(f"loops = {loops}: must be >= 1")
    t_start = time.perf_counter()
    handle = connect(cfg.redis, redis_url)
    report = SoakReport(video, loops, 0)
    outbox = None
    try:
        client = handle.client
        models = build_models(cfg)
        hub = Hub(client, cfg)
        hub.start()
        w = cfg.worker
        outbox = Outbox(lambda: client, max_messages=w.outbox_max_messages, batch=w.outbox_batch,
                        initial_backoff_s=w.redis_initial_backoff_s, max_backoff_s=w.redis_max_backoff_s,
                        name=_CAMERA).start()
        publisher = TrackletPublisher(WriteBehindClient(outbox), cfg, _CAMERA)
        fps = _source_fps(cfg, video)
        pipeline = CameraPipeline(cfg, _CAMERA, fps, *models)
        frames = 0

        def sample(label: str) -> None:
            gc.collect()
            used_mb, nkeys = _redis_sample(client)
            s = SoakSample(label, frames, time.perf_counter() - t_start, current_rss_mb(), used_mb, nkeys,
                           len(hub.engine.identities), outbox.stats().depth)
            report.samples.append(s)
            if on_sample is not None:
                on_sample(s)

        sample("start")
        with FrameLoop({_CAMERA: pipeline}, [PublishSink(publisher), _StepHub(hub)]) as frame_loop:
            for loop in range(loops):
                n_in_loop = _play_once(frame_loop, cfg, video, loop * report.frames_per_loop, fps, max_frames)
                if loop == 0:
                    report.frames_per_loop = n_in_loop
                frames += n_in_loop
                outbox.wait_empty(_FLUSH_TIMEOUT_S)
                hub.drain()
                sample(f"loop {loop + 1}")
        st = outbox.stats()
        report.messages_sent, report.messages_dropped = st.sent, st.dropped
        report.hub_messages = hub.stats.messages
        hub.close()
        sample("end")
        return report
    finally:
        if outbox is not None:
            outbox.close(_FLUSH_TIMEOUT_S)
        handle.close()


def _source_fps(cfg: Config, video: str) -> float:
    """The video's frame rate (``source.default_fps`` when it declares none)."""
    from streams.factory import open_source

    with open_source(video, _CAMERA, cfg.source) as src:
        return src.fps or cfg.source.default_fps


def _play_once(frame_loop: FrameLoop, cfg: Config, video: str, offset_frames: int, fps: float,
               max_frames: int) -> int:
    """One pass over ``video`` (its first ``max_frames`` frames; 0: all) through the loop, frame indices and
    timestamps shifted by ``offset_frames``; every frame is finished on return. Returns the frames played."""
    from streams.factory import open_source

    played = 0
    with open_source(video, _CAMERA, cfg.source) as src:
        for f in islice(src, max_frames or None):
            frame_loop.submit(Frame(_CAMERA, f.index + offset_frames, f.timestamp_s + offset_frames / fps, f.image))
            played += 1
    frame_loop.flush()
    if played == 0:
        raise SourceError(f"{video}: no frames decoded")
    return played


class _StepHub:
    """A frame sink that lets the in-process hub take what was published so far, after every frame."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        self.hub.step()

    def close(self, *, completed: bool = True) -> None:
        """The hub belongs to the caller."""
