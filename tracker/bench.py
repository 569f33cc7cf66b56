"""Throughput benchmark: detector alone vs the whole per-camera pipeline, on the same video, in one run."""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from streams.base import Frame
from tracker.config import Config

__all__ = ["SingleCameraBench", "run_single_camera_bench", "percentiles_ms"]

log = logging.getLogger(__name__)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_single_camera_bench(cfg: Config, video: str, max_frames: int = 0, warmup_frames: int = 5,
                            publish: bool = False) -> SingleCameraBench:
    """Detector-only fps on frames decoded beforehand (the detector's pure cost), then the full pipeline
    (decode from the file, CLAHE, detect, Re-ID, associate, and optionally publish to the hub's Redis)."""
    from streams.factory import open_source
    from tracker.pipeline import STAGES, CameraPipeline
    from tracker.replay import build_models

    detector, embedder, clahe = build_models(cfg)
    with open_source(video, "bench", cfg.source) as src:
        fps = src.fps or cfg.source.default_fps
        frames = [f.image for f, _ in zip(src, range(max_frames or 10**9))]
    if not frames:
        from streams.base import SourceError

        raise SourceError(f"{video}: no frames decoded")
    n = len(frames)
    for img in frames[:warmup_frames]:  # warm the detector up (first calls compile / allocate)
        detector.detect(img)
    t0 = time.perf_counter()
    for img in frames:
        detector.detect(img)
    det_fps = n / (time.perf_counter() - t0)
    del frames

    publisher = None
    if publish:
        from tracker.hub_session import HubSession

        publisher = HubSession.open(cfg, ["bench"], run_hub=False)
    pipe = CameraPipeline(cfg, "bench", fps, detector, embedder, clahe)  # type: ignore[arg-type]
    stage: dict[str, list[float]] = {s: [] for s in (*STAGES, "publish", "total")}
    dets = tracks = 0
    with open_source(video, "bench", cfg.source) as src:
        it = iter(src)
        t_start = time.perf_counter()
        count = 0
        while not max_frames or count < max_frames:
            t_frame = time.perf_counter()
            try:
                frame: Frame = next(it)
            except StopIteration:
                break
            stage["decode"].append((time.perf_counter() - t_frame) * 1e3)
            result = pipe.process(frame)
            for k, v in result.timings_ms.items():
                stage[k].append(v)
            if publisher is not None:
                tp = time.perf_counter()
                publisher.publish("bench", result.updates, frame.image, frame.index, frame.timestamp_s)
                stage["publish"].append((time.perf_counter() - tp) * 1e3)
            stage["total"].append((time.perf_counter() - t_frame) * 1e3)
            dets += result.num_detections
            tracks += len(result.updates)
            count += 1
        pipe_fps = count / (time.perf_counter() - t_start)
    if publisher is not None:
        publisher.close()
    return SingleCameraBench(
        video=video, frames=count, detector_only_fps=det_fps, pipeline_fps=pipe_fps, ratio=pipe_fps / det_fps,
        stages_ms={k: percentiles_ms(v) for k, v in stage.items() if v}, peak_rss_mb=peak_rss_mb(),
        detector=str(getattr(detector, "info", type(detector).__name__)),
        reid_backend=cfg.reid.backend if cfg.reid.enabled else "off",
        mean_detections_per_frame=dets / max(count, 1), mean_tracks_per_frame=tracks / max(count, 1))
