"""One camera's per-frame pipeline: CLAHE -> detect -> Re-ID -> track. Models come in through protocols."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from streams.base import Frame
from tracker.clahe import mean_luma, should_equalise_detector_input
from tracker.config import Config
from tracker.detections import Detections
from tracker.multi_tracker import MultiObjectTracker
from tracker.protocols import Detector, Embedder
from tracker.track import BoxRecord
from tracker.tracklet import TrackletUpdate

__all__ = ["CameraPipeline", "FrameResult", "STAGES"]

log = logging.getLogger(__name__)

#: Stage names timed per frame (decode is timed by the caller that pulls frames from the source).
STAGES = ("decode", "clahe", "detect", "reid", "associate")


@dataclass
class FrameResult:
    """What one frame produced: confirmed tracks (as hub updates), backfilled tentative boxes, stage timings."""

    frame_index: int
    timestamp_s: float
    updates: list[TrackletUpdate]
    backfill: list[tuple[int, BoxRecord]] = field(default_factory=list)
    num_detections: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class CameraPipeline:
    """Stateful per-camera processing. Not thread-safe; one per camera.

    Args:
        cfg: full config. camera_id: camera name. fps: the camera's frame rate.
        detector: a Detector. embedder: an Embedder, or None to track on motion only.
        clahe: a ``tracker.clahe.Clahe`` or None (CLAHE off).
    """

    def __init__(self, cfg: Config, camera_id: str, fps: float, detector: Detector,
                 embedder: Embedder | None = None, clahe: object | None = None) -> None:
        self.cfg = cfg
        self.camera_id = camera_id
        self.detector = detector
        self.embedder = embedder if cfg.reid.enabled else None
        self.clahe = clahe if cfg.clahe.enabled else None
        self.tracker = MultiObjectTracker(cfg.tracker, cfg.kalman, fps=fps)
        self._dark: bool | None = None
        self._frames_since_luma_check = 0

    def process(self, frame: Frame) -> FrameResult:
        timings: dict[str, float] = {}
        image = frame.image
        t0 = time.perf_counter()
        det_input, reid_input = self._equalise(image)
        t1 = time.perf_counter()
        dets = self.detector.detect(det_input)
        t2 = time.perf_counter()
        self.tracker.predict()
        t3 = time.perf_counter()
        dets = self._embed(reid_input, dets)
        t4 = time.perf_counter()
        step = self.tracker.update(dets, frame.index)
        t5 = time.perf_counter()
        timings.update(clahe=(t1 - t0) * 1e3, detect=(t2 - t1) * 1e3, reid=(t4 - t3) * 1e3,
                       associate=(t3 - t2 + t5 - t4) * 1e3)
        updates = [
            TrackletUpdate(
                camera_id=self.camera_id, local_id=o.track_id, frame_index=frame.index,
                timestamp_s=frame.timestamp_s, xyxy=o.xyxy, confidence=o.confidence, embedding=o.embedding,
                embedding_quality=(o.confidence * (1.0 - o.overlap_iou)) if o.embedding is not None else 0.0)
            for o in step.outputs
        ]
        return FrameResult(frame.index, frame.timestamp_s, updates, step.backfill, len(dets), timings)

    # ------------------------------------------------------------------------------------------------------
    def _equalise(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (detector input, Re-ID input); CLAHE is computed at most once per frame."""
        if self.clahe is None:
            return image, image
        want_det = self.cfg.clahe.detector_input == "always"
        if self.cfg.clahe.detector_input == "dark":
            if self._frames_since_luma_check >= self.cfg.clahe.luma_check_every_n_frames - 1 or self._dark is None:
                self._dark = should_equalise_detector_input(mean_luma(image), self.cfg.clahe)
                self._frames_since_luma_check = 0
            else:
                self._frames_since_luma_check += 1
            want_det = self._dark
        want_reid = self.cfg.clahe.reid_crops and self.embedder is not None
        if not (want_det or want_reid):
            return image, image
        equalised = self.clahe.apply(image)
        return (equalised if want_det else image), (equalised if want_reid else image)

    def _embed(self, image: np.ndarray, dets: Detections) -> Detections:
        """Embeds the detections that take part in appearance matching (score >= high_score_threshold)."""
        if self.embedder is None or len(dets) == 0:
            return dets
        want = dets.confidence >= self.cfg.tracker.high_score_threshold
        if self.cfg.reid.refresh_frames > 0:
            want &= self.tracker.embedding_needed(dets, self.cfg.reid.refresh_frames, self.cfg.reid.easy_match_iou,
                                                  self.cfg.reid.near_iou)
        idx = np.flatnonzero(want)
        emb = np.zeros((len(dets), self.embedder.dim), dtype=np.float32)
        if len(idx):
            emb[idx] = self.embedder.embed(image, dets.xyxy[idx])
        return dets.with_embeddings(emb)
