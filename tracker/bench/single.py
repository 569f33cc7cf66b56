"""Throughput benchmark: detector alone vs the whole per-camera pipeline, on the same video, in one run."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from tracker.config import Config
from tracker.core.detections import Detections
from tracker.core.protocols import Detector, PendingDetections, StreamingDetector
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.pipeline.camera import STAGES, CameraPipeline, in_order
from tracker.pipeline.loop import FrameLoop, timed_frames
from tracker.pipeline.publish_sink import PublishSink
from tracker.pipeline.sink import FrameSink
from tracker.pipeline.stats_sink import FrameStats

__all__ = ["SingleCameraBench", "run_single_camera_bench", "percentiles_ms"]

log = logging.getLogger(__name__)

#: Detector-only and pipeline are timed in alternating blocks of this many frames (run-to-run drift of a shared
#: machine then hits both alike).
BLOCK_FRAMES = 50


def percentiles_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "p95": 0.0}
    arr = np.asarray(values)
    return {"median": float(np.median(arr)), "p95": float(np.percentile(arr, 95))}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


@dataclass
class SingleCameraBench:
    video: str
    frames: int
    detector_only_fps: float
    pipeline_fps: float
    ratio: float
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    detector: str = ""
    reid_backend: str = ""
    mean_detections_per_frame: float = 0.0
    mean_tracks_per_frame: float = 0.0
    block_frames: int = 0  # detector-only and pipeline alternate in blocks of this many frames
    cpu: dict[str, Any] = field(default_factory=dict)  # model, flags (ISA extensions found), logical_cpus
    detector_path: dict[str, Any] = field(default_factory=dict)  # engine, precision (from the weights), streams
    reid_path: dict[str, Any] = field(default_factory=dict)  # see reid_path_report
    reid_ms_per_frame: float = 0.0  # mean Re-ID stage time per pipeline frame (frames without crops count as 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_single_camera_bench(cfg: Config, video: str, max_frames: int = 0, warmup_frames: int = 5,
                            publish: bool = False, block_frames: int = BLOCK_FRAMES) -> SingleCameraBench:
    """Detector-only fps on frames decoded beforehand (the detector's pure cost), and the full pipeline (decode
    from the file, CLAHE, detect, Re-ID, associate, and optionally publish to the hub's Redis). Both use the same
    detector object, so the same input size (``detector.input_shape``); the pipeline overlaps Re-ID with detection
    when ``pipeline.overlap`` is on ("total" is then the time per submitted frame).

    The two are measured in alternating blocks of ``block_frames`` frames of the clip (detector alone on block k,
    then the pipeline on the same block read from the file; 0 = one block: the whole clip), so that a change in the
    machine's speed during the run hits both alike. fps = frames / summed block time.
    """
    from tracker.models.cpu_features import read_cpu_features
    from tracker.models.factory import build_models

    detector, embedder, clahe = build_models(cfg)
    fps, images = _decoded(cfg, video, max_frames)
    block = block_frames if block_frames > 0 else len(images)
    _detect_all(detector, images[:warmup_frames])  # warm the detector up (first calls compile / allocate)
    stats = FrameStats((*STAGES, "publish"))
    publisher = _WorkerPublisher(cfg) if publish else None
    sinks: list[FrameSink] = [stats] if publisher is None else [PublishSink(publisher), stats]
    loop = FrameLoop({"bench": CameraPipeline(cfg, "bench", fps, detector, embedder, clahe)},
                     sinks)
    try:
        times = _alternate_blocks(cfg, video, images, block, detector, loop)
    finally:
        if publisher is not None:
            publisher.close()
    n, count = len(images), stats.total_frames
    del images
    det_fps, pipe_fps = n / times.detector_s, count / times.pipeline_s
    cpu = read_cpu_features()
    reid_ms = stats.stage_ms.get("reid", [])
    return SingleCameraBench(
        video=video, frames=count, detector_only_fps=det_fps, pipeline_fps=pipe_fps, ratio=pipe_fps / det_fps,
        stages_ms={k: percentiles_ms(v) for k, v in {**stats.stage_ms, "total": times.total_ms}.items() if v},
        peak_rss_mb=peak_rss_mb(), detector=str(getattr(detector, "info", type(detector).__name__)),
        reid_backend=_reid_label(embedder) if cfg.reid.enabled else "off",
        mean_detections_per_frame=stats.detections / max(count, 1),
        mean_tracks_per_frame=stats.track_boxes / max(count, 1), block_frames=block,
        cpu={"model": cpu.model, "flags": list(cpu.flags), "logical_cpus": cpu.logical_cpus,
             "isa_cap": cpu.isa_cap},
        detector_path=detector_path_report(detector, cfg.detector.num_threads),
        reid_path=reid_path_report(cfg, embedder),
        reid_ms_per_frame=float(sum(reid_ms)) / max(count, 1))


def detector_path_report(detector: Detector, threads: int) -> dict[str, Any]:
    """engine (Ultralytics' backend format), precision (from the weights' name: int8 exports carry it), streams,
    input size and threads (``detector.num_threads``, 0 = the engine's default) of the detector."""
    info = getattr(detector, "info", None)
    if info is None:
        return {"engine": type(detector).__name__}
    name = str(info.weights).lower()
    precision = "int8" if "int8" in name else "fp16" if ("fp16" in name or "half" in name) else "f32 or as exported"
    return {"engine": info.backend_format, "precision": precision, "streams": info.streams,
            "input_hw": list(info.imgsz), "threads": threads}


def reid_path_report(cfg: Config, embedder: object) -> dict[str, Any]:
    """The Re-ID path the pipeline ran: engine, precision, threads, how it was chosen (config, measured, cache),
    why, the accuracy bound and the chosen path's cosine agreement with f32 on real crops (null: not measured), and
    every measured candidate (ms per crop, agreement, error)."""
    from tracker.models.reid.embedder import ReidEmbedder

    if not cfg.reid.enabled or not isinstance(embedder, ReidEmbedder) or embedder.choice is None:
        return {"engine": "off" if not cfg.reid.enabled else cfg.reid.backend}
    choice = embedder.choice
    agreement = choice.agreement
    return {"engine": choice.path.engine, "precision": choice.path.precision, "threads": choice.path.threads,
            "model": embedder.model_id, "chosen_by": choice.source, "reason": choice.reason,
            "bound": asdict(choice.bound), "agreement_with_f32": asdict(agreement) if agreement else None,
            "candidates": [{"path": t.path.label, "ms_per_crop": t.ms_per_crop,
                            "agreement_with_f32": asdict(t.agreement) if t.agreement else None, "error": t.error}
                           for t in choice.trials]}


def _reid_label(embedder: object) -> str:
    from tracker.models.reid.embedder import ReidEmbedder

    if isinstance(embedder, ReidEmbedder) and embedder.choice is not None:
        return embedder.choice.path.label
    return type(embedder).__name__


def _decoded(cfg: Config, video: str, max_frames: int) -> tuple[float, list[np.ndarray]]:
    """(the video's fps, its first ``max_frames`` images (H, W, 3) BGR; 0: all)."""
    from streams.base import SourceError
    from streams.factory import open_source

    with open_source(video, "bench", cfg.source) as src:
        fps = src.fps or cfg.source.default_fps
        images = [f.image for f in islice(src, max_frames or None)]
    if not images:
        raise SourceError(f"{video}: no frames decoded")
    return fps, images


@dataclass
class _BlockTimes:
    detector_s: float = 0.0  # detector alone, all blocks
    pipeline_s: float = 0.0  # the pipeline, all blocks
    total_ms: list[float] = field(default_factory=list)  # per submitted frame: decode, submit, the sinks it ran


def _alternate_blocks(cfg: Config, video: str, images: list[np.ndarray], block: int, detector: Detector,
                      loop: FrameLoop) -> _BlockTimes:
    """Block by block: the detector alone on the block's decoded ``images``, then the same frames read from the
    file through ``loop`` (flushed at the block's end, so its last frames count in the block). Closes ``loop``."""
    from streams.factory import open_source

    times = _BlockTimes()
    with loop, open_source(video, "bench", cfg.source) as src:
        frames = timed_frames(src)
        for start in range(0, len(images), block):
            t0 = time.perf_counter()
            _detect_all(detector, images[start:start + block])
            t1 = time.perf_counter()
            for frame, decode_ms in islice(frames, min(block, len(images) - start)):
                t_frame = time.perf_counter()
                loop.submit(frame, decode_ms)  # with pipeline.overlap: the previous frame finishes
                times.total_ms.append(decode_ms + (time.perf_counter() - t_frame) * 1e3)
            loop.flush()
            times.detector_s += t1 - t0
            times.pipeline_s += time.perf_counter() - t1
    return times


def _detect_all(detector: Detector, images: list[np.ndarray]) -> None:
    """Detect ``images`` as fast as the detector can: a ``StreamingDetector`` keeps all its streams busy, as the
    pipeline does."""
    if not isinstance(detector, StreamingDetector) or detector.max_in_flight <= 1:
        for img in images:
            detector.detect(img)
        return
    for _ in in_order(images, detector.start, _take_result, detector.max_in_flight):
        pass


def _take_result(_: np.ndarray, pending: PendingDetections) -> Detections:
    return pending.result()


class _WorkerPublisher:
    """Publishes like a live camera worker (a :class:`tracker.pipeline.publish_sink.FramePublisher`): frame messages
    are built on the frame loop and queued; the outbox thread sends them to Redis (embedded when ``redis.url`` is
    empty)."""

    def __init__(self, cfg: Config) -> None:
        from tracker.bus.connection import connect
        from tracker.bus.publisher import TrackletPublisher
        from tracker.bus.write_behind import WriteBehindClient, make_outbox

        self._cfg = cfg
        self._handle = connect(cfg.redis)
        self._outbox, self._handles = make_outbox(cfg, self._handle.child_url, "bench")
        self._outbox.start()
        self._publisher = TrackletPublisher(WriteBehindClient(self._outbox), cfg, "bench")

    def publish(self, updates: list[TrackletUpdate], image_bgr: np.ndarray | None = None, *,
                frame_index: int | None = None, timestamp_s: float | None = None,
                late: Sequence[LateBox] = ()) -> None:
        self._publisher.publish(updates, image_bgr, frame_index=frame_index, timestamp_s=timestamp_s, late=late)

    def close(self) -> None:
        try:
            left = self._outbox.close(self._cfg.worker.stop_timeout_s)
            st = self._outbox.stats()
            if left or st.dropped:
                log.warning("bench: %d frame message(s) not delivered to Redis", max(left, st.dropped))
        finally:
            for handle in self._handles:
                handle.close()
            self._handle.close()
