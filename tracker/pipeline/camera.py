"""One camera's per-frame pipeline: CLAHE -> detect -> Re-ID -> track. Models come in through protocols.

Two stages per frame: ``detect`` (CLAHE check, detector; ``start_detect``/``finish_detect`` for a
``StreamingDetector`` that detects up to ``max_in_flight`` frames at once) and ``track`` (Kalman prediction, Re-ID
on demand, association). ``process`` runs both. ``advance`` takes a detected frame into the tracking stage; with
``pipeline.overlap`` its Re-ID runs in a worker thread (while the caller detects the next frame) and the frame is
associated and returned at the next ``advance`` or ``finish_pending``. Association stays on the calling thread, in
frame order. :class:`tracker.pipeline.loop.FrameLoop` schedules frames of one or more cameras through these stages.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from streams.base import Frame
from tracker.config import Config
from tracker.config.calibration import CameraCalibration
from tracker.config.geometry import ground_params
from tracker.config.mapping import kalman_params, tracker_params
from tracker.core.detections import Detections
from tracker.core.ground import GroundEstimate, GroundEstimator
from tracker.core.multi_tracker import MultiObjectTracker, TrackOutput
from tracker.core.protocols import (
    Detector,
    Embedder,
    PendingDetections,
    StreamingDetector,
)
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.models.clahe import Clahe, mean_luma, should_equalise_detector_input
from tracker.models.reid.stats import appearance_scale
from tracker.pipeline.late_boxes import RecentFrameTimes, late_boxes

__all__ = ["CameraPipeline", "DetectedFrame", "DetectingFrame", "FrameResult", "STAGES", "in_order",
           "reid_refresh_frames"]

log = logging.getLogger(__name__)

#: Stage names timed per frame (decode is timed by the caller that pulls frames from the source).
STAGES = ("decode", "clahe", "detect", "reid", "associate")
_FRAME_ROUNDING_EPS = 1e-9  # 1.5 s x 10 fps is 15 frames, not 14 through float error


_Item = TypeVar("_Item")
_Started = TypeVar("_Started")
_Done = TypeVar("_Done")


def in_order(items: Iterable[_Item], start: Callable[[_Item], _Started],
             finish: Callable[[_Item, _Started], _Done], depth: int) -> Iterator[_Done]:
    """``finish(item, start(item))`` for every item, in order, with up to ``depth`` items started and not yet
    finished (e.g. a streaming detector's frames in flight: ``depth`` = its ``max_in_flight``)."""
    started: deque[tuple[_Item, _Started]] = deque()
    for item in items:
        started.append((item, start(item)))
        if len(started) >= depth:
            yield finish(*started.popleft())
    while started:
        yield finish(*started.popleft())


def reid_refresh_frames(refresh_s: float, fps: float) -> int:
    """``reid.refresh_s`` in frames of a camera running at ``fps`` (rounded down, so a lone track is refreshed at
    least that often; at least 1). 0 when Re-ID on demand is off (refresh_s 0)."""
    if refresh_s <= 0:
        return 0
    return max(1, int(refresh_s * fps + _FRAME_ROUNDING_EPS))


@dataclass
class FrameResult:
    """What one frame produced: confirmed tracks (as hub updates), boxes of earlier frames known only now (``late``:
    the tentative boxes of tracks confirmed in this frame, with ``output.backfill_tentative``, and the boxes filled in
    over gaps that closed in it, ``tracker.fill_gaps_max_s``; the MOT files and the hub's trajectories both take
    them), the number of detections, stage timings."""

    frame_index: int
    timestamp_s: float
    updates: list[TrackletUpdate]
    late: list[LateBox] = field(default_factory=list)
    num_detections: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class DetectedFrame:
    """A frame after the detection stage: the detections and the image Re-ID crops come from (H, W, 3)."""

    frame: Frame
    reid_input: np.ndarray
    detections: Detections
    timings_ms: dict[str, float]


class CameraPipeline:
    """Stateful per-camera processing. Not thread-safe; one per camera (``advance`` runs Re-ID in its own worker
    thread, one frame at a time, in order).

    Args:
        cfg: full config. camera_id: camera name. fps: the camera's frame rate.
        detector: a Detector. embedder: an Embedder, or None to track on motion only.
        clahe: CLAHE for dark frames, or None (CLAHE off).
        calibration: the camera's ground-plane calibration, or None: tracks then get no ground position. Checked
            against the first frame's size (a ConfigError if it does not fit).
    """

    def __init__(self, cfg: Config, camera_id: str, fps: float, detector: Detector,
                 embedder: Embedder | None = None, clahe: Clahe | None = None,
                 calibration: CameraCalibration | None = None) -> None:
        self.cfg = cfg
        self.camera_id = camera_id
        self.detector = detector
        self.embedder = embedder if cfg.reid.enabled else None
        self.clahe = clahe if cfg.clahe.enabled else None
        self.tracker = MultiObjectTracker(tracker_params(cfg.tracker, appearance_scale(cfg.reid)),
                                          kalman_params(cfg.kalman), fps=fps)
        self.reid_refresh_frames = reid_refresh_frames(cfg.reid.refresh_s, fps)
        self._frame_times = RecentFrameTimes(self.tracker.max_late_frames + 1)  # for the late boxes' times
        self.calibration = calibration
        self._ground: GroundEstimator | None = None
        self._dark: bool | None = None
        self._frames_since_luma_check = 0
        self._overlap = cfg.pipeline.overlap
        self._executor: ThreadPoolExecutor | None = None
        self._pending: _Tracking | None = None
        #: frames this pipeline's detector works on at once (1: ``start_detect`` detects at once)
        self.max_in_flight = (max(1, int(detector.max_in_flight)) if isinstance(detector, StreamingDetector)
                              else 1)

    def process(self, frame: Frame) -> FrameResult:
        """Both stages of one frame, on the calling thread."""
        return self.track(self.detect(frame))

    def advance(self, detected: DetectedFrame) -> list[tuple[Frame, FrameResult]]:
        """Take a detected frame (this camera's next, in order) into the tracking stage; returns the frames that
        finished it: this one, or with ``pipeline.overlap`` (and Re-ID on) the frame before it, if any, while this
        one's Re-ID runs in a worker thread (``finish_pending`` finishes it)."""
        if not self._overlap or self.embedder is None:
            return [(detected.frame, self.track(detected))]
        done = self.finish_pending()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"reid-{self.camera_id}")
        self._pending = self._start_tracking(detected, self._executor)
        return done

    def has_pending(self) -> bool:
        """A frame is waiting in the tracking stage for its Re-ID (``finish_pending`` finishes it)."""
        return self._pending is not None

    def finish_pending(self) -> list[tuple[Frame, FrameResult]]:
        """Associate the frame waiting for its Re-ID, if any; returns it with its result ([] if none)."""
        pending, self._pending = self._pending, None
        return [] if pending is None else [(pending.detected.frame, self._finish_tracking(pending))]

    def close(self) -> None:
        """Drop the frame waiting for its Re-ID, if any, and stop the Re-ID thread."""
        pending, self._pending = self._pending, None
        if pending is not None and isinstance(pending.features, Future):
            try:
                pending.features.result()
            except Exception as exc:  # noqa: BLE001 - closing: the frame is dropped anyway
                log.debug("camera %s: Re-ID of the dropped frame failed: %s", self.camera_id, exc)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def detect(self, frame: Frame) -> DetectedFrame:
        """Stage 1: brightness check / CLAHE and the detector."""
        t0 = time.perf_counter()
        det_input, reid_input = self._equalise(frame.image)
        t1 = time.perf_counter()
        dets = self.detector.detect(det_input)
        t2 = time.perf_counter()
        return DetectedFrame(frame, reid_input, dets, {"clahe": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3})

    def start_detect(self, frame: Frame) -> DetectingFrame:
        """Stage 1 begun: CLAHE check, and the frame handed to the detector (detected here with one stream). Pass
        the result to ``finish_detect``, then ``track`` or ``advance``; with a ``StreamingDetector`` shared by
        several pipelines, keep at most its ``max_in_flight`` frames started in all."""
        if self.max_in_flight <= 1:
            return DetectingFrame(self.detect(frame), None, 0.0)
        t0 = time.perf_counter()
        det_input, reid_input = self._equalise(frame.image)
        t1 = time.perf_counter()
        assert isinstance(self.detector, StreamingDetector)
        started = DetectedFrame(frame, reid_input, Detections.empty(), {"clahe": (t1 - t0) * 1e3})
        return DetectingFrame(started, self.detector.start(det_input), t1)

    @staticmethod
    def finish_detect(detecting: DetectingFrame) -> DetectedFrame:
        """Stage 1 done: the frame's detections; "detect" is the time from start to result (other frames are on the
        detector meanwhile)."""
        if detecting.pending is None:
            return detecting.detected
        started = detecting.detected
        detections = detecting.pending.result()
        timings = {**started.timings_ms, "detect": (time.perf_counter() - detecting.started_s) * 1e3}
        return DetectedFrame(started.frame, started.reid_input, detections, timings)

    def track(self, detected: DetectedFrame) -> FrameResult:
        """Stage 2: Kalman prediction, Re-ID on demand, association; frames must come in order."""
        return self._finish_tracking(self._start_tracking(detected, None))

    # ------------------------------------------------------------------------------------------------------
    def _start_tracking(self, detected: DetectedFrame, executor: ThreadPoolExecutor | None) -> _Tracking:
        """Predict, choose the detections to embed and embed them (in ``executor`` when given)."""
        t0 = time.perf_counter()
        self.tracker.predict()
        t1 = time.perf_counter()
        dets = detected.detections
        unambiguous = (self.tracker.unambiguous_tracks(dets, self.cfg.reid.easy_match_iou, self.cfg.reid.near_iou)
                       if self.embedder is not None and len(dets) else None)
        rows = self._embedding_rows(dets, unambiguous)
        t2 = time.perf_counter()
        features: Future[tuple[np.ndarray, float]] | tuple[np.ndarray, float] | None = None
        if len(rows):
            boxes = dets.xyxy[rows]
            if executor is not None:
                features = executor.submit(self._timed_embed, detected.reid_input, boxes)
            else:
                features = self._timed_embed(detected.reid_input, boxes)
        trusted = unambiguous if self.cfg.tracker.trust_unambiguous_motion else None
        return _Tracking(detected, rows, features, predict_ms=(t1 - t0) * 1e3, choose_ms=(t2 - t1) * 1e3,
                         unambiguous=trusted)

    def _finish_tracking(self, tracking: _Tracking) -> FrameResult:
        """Wait for the features, associate, and build the frame's result."""
        detected, frame = tracking.detected, tracking.detected.frame
        dets = detected.detections
        embed_ms = 0.0
        if self.embedder is not None and len(dets):
            emb = np.zeros((len(dets), self.embedder.dim), dtype=np.float32)
            if tracking.features is not None:
                done = tracking.features
                features, embed_ms = done.result() if isinstance(done, Future) else done
                emb[tracking.rows] = features
            dets = dets.with_embeddings(emb)
        t0 = time.perf_counter()
        step = self.tracker.update(dets, frame.index, unambiguous=tracking.unambiguous)
        t1 = time.perf_counter()
        timings = dict(detected.timings_ms)
        timings.update(reid=tracking.choose_ms + embed_ms, associate=tracking.predict_ms + (t1 - t0) * 1e3)
        ground = self._ground_positions(frame, step.outputs)
        updates = [
            TrackletUpdate(
                camera_id=self.camera_id, local_id=o.track_id, frame_index=frame.index,
                timestamp_s=frame.timestamp_s, xyxy=o.xyxy, confidence=o.confidence, embedding=o.embedding,
                embedding_quality=(o.confidence * (1.0 - o.overlap_iou)) if o.embedding is not None else 0.0,
                ground_xy_m=ground.xy_m[i] if ground is not None and ground.valid[i] else None,
                ground_cov_m2=ground.cov_m2[i] if ground is not None and ground.valid[i] else None)
            for i, o in enumerate(step.outputs)
        ]
        self._frame_times.add(frame.index, frame.timestamp_s)
        records = (step.backfill if self.cfg.output.backfill_tentative else []) + step.filled
        return FrameResult(frame.index, frame.timestamp_s, updates, late_boxes(records, self._frame_times), len(dets),
                           timings)

    @property
    def ground_view(self) -> tuple[np.ndarray, tuple[int, int]] | None:
        """(oriented image->ground homography (3, 3), image (width, height)) once a calibrated camera has seen its
        first frame; None before that or without calibration."""
        if self._ground is None:
            return None
        height, width = self._ground.image_hw
        return self._ground.h, (width, height)

    def _ground_positions(self, frame: Frame, outputs: list[TrackOutput]) -> GroundEstimate | None:
        """Ground positions of this frame's confirmed tracks (None for an uncalibrated camera). The first frame
        fixes the image size the calibration is checked against."""
        if self.calibration is None:
            return None
        if self._ground is None:
            height, width = frame.image.shape[:2]
            fitted = self.calibration.for_image((width, height), f"camera {self.camera_id}'s calibration")
            self._ground = GroundEstimator(fitted.image_to_ground, (height, width), ground_params(self.cfg.geometry))
        ids = np.array([o.track_id for o in outputs], np.int64)
        xyxy = np.array([o.xyxy for o in outputs], np.float64).reshape(-1, 4)
        return self._ground.update(ids, xyxy, frame.timestamp_s)

    def _timed_embed(self, image: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, float]:
        """(features (N, D), ms) for boxes xyxy (N, 4)."""
        assert self.embedder is not None
        t0 = time.perf_counter()
        features = self.embedder.embed(image, xyxy)
        return features, (time.perf_counter() - t0) * 1e3

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

    def _embedding_rows(self, dets: Detections, unambiguous: np.ndarray | None) -> np.ndarray:
        """Indices of the detections to embed: those that take part in appearance matching (score >=
        high_score_threshold) and, with Re-ID on demand, whose association is not already clear."""
        if self.embedder is None or len(dets) == 0:
            return np.zeros(0, dtype=np.intp)
        want = dets.confidence >= self.cfg.tracker.high_score_threshold
        if self.reid_refresh_frames > 0:
            want &= self.tracker.embedding_needed(dets, self.reid_refresh_frames, self.cfg.reid.easy_match_iou,
                                                  self.cfg.reid.near_iou, unambiguous)
        return np.flatnonzero(want)


@dataclass
class DetectingFrame:
    """A frame between the start and the result of its detection (``pending`` None: already detected)."""

    detected: DetectedFrame
    pending: PendingDetections | None
    started_s: float  # perf_counter() when the detector got it


@dataclass
class _Tracking:
    """A frame between the two halves of the tracking stage: Re-ID of ``rows`` running or done."""

    detected: DetectedFrame
    rows: np.ndarray  # (K,) detection indices being embedded
    features: Future[tuple[np.ndarray, float]] | tuple[np.ndarray, float] | None  # ((K, D), ms)
    predict_ms: float
    choose_ms: float
    unambiguous: np.ndarray | None = None  # (N,) tracks the detections continue unambiguously (-1: none)
