"""Per-camera multi-object tracker: Kalman prediction, appearance + motion association, track lifecycle.

Per frame (detections already carry Re-ID embeddings where computed):

1. Predict every track one frame ahead.
2. Confirmed tracks x high-score detections: cost = w * cosine + (1 - w) * (1 - IoU), gated by the
   Mahalanobis distance and an appearance threshold (DeepSORT/StrongSORT); Hungarian assignment, or DeepSORT's
   matching cascade when configured.
3. Tentative tracks and confirmed tracks seen in the previous frame x remaining high-score detections, on IoU.
4. Confirmed tracks seen in the previous frame x low-score detections, on IoU (ByteTrack's second pass:
   keeps people through partial occlusion when the detector is unsure).
5. Unmatched tentative tracks are deleted, confirmed ones after ``max_age``; unmatched confident detections
   start tentative tracks, confirmed after ``n_init`` consecutive hits.

No cv2, models or Redis here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from tracker.assignment import linear_assignment, matching_cascade
from tracker.boxes import iou_matrix, xyxy_to_xyah
from tracker.config import KalmanConfig, TrackerConfig
from tracker.costs import INFEASIBLE, cosine_distance, fuse_costs, iou_distance
from tracker.detections import Detections
from tracker.kalman import KalmanModel
from tracker.track import BoxRecord, Track

__all__ = ["MultiObjectTracker", "TrackOutput", "TrackerStep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackOutput:
    """A confirmed track updated in this frame.

    xyxy: (4,) box; embedding: (D,) this frame's detection feature or None; overlap_iou: the largest IoU of
    its detection with any other detection (an occlusion proxy).
    """

    track_id: int
    xyxy: np.ndarray
    confidence: float
    embedding: np.ndarray | None
    overlap_iou: float


@dataclass
class TrackerStep:
    """Result of one ``update``: confirmed tracks of this frame, and the boxes newly confirmed tracks had
    while tentative (for offline output)."""

    outputs: list[TrackOutput] = field(default_factory=list)
    backfill: list[tuple[int, BoxRecord]] = field(default_factory=list)  # (track_id, record)
    deleted_ids: list[int] = field(default_factory=list)


class MultiObjectTracker:
    """Tracks people in one camera.

    Args:
        cfg: tracker tunables. kalman_cfg: Kalman noise model. fps: the camera's frame rate (turns
        ``max_age_s`` into frames).
    """

    def __init__(self, cfg: TrackerConfig, kalman_cfg: KalmanConfig | None = None, fps: float = 25.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.cfg = cfg
        self.kf = KalmanModel(kalman_cfg)
        self.fps = fps
        self.max_age_frames = max(1, int(round(cfg.max_age_s * fps)))
        self.tracks: list[Track] = []
        self._next_id = 1
        self._predicted = False
        self._overlap_cache: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------------------------------------------
    def predict(self) -> None:
        """Advance every track's Kalman state one frame (``update`` does it if not called first)."""
        if not self._predicted:
            for t in self.tracks:
                t.predict(self.kf)
            self._predicted = True

    def embedding_needed(self, detections: Detections, refresh_frames: int, easy_iou: float,
                         near_iou: float = 0.0) -> np.ndarray:
        """(N,) bool: which detections need an appearance feature this frame (call after ``predict``).

        A detection can skip Re-ID when its association is unambiguous: it overlaps exactly one confirmed track
        seen in the previous frame by at least ``easy_iou``, no other detection or track comes near (IoU > near_iou)
        either of them, and that track got a feature within the last ``refresh_frames`` frames. Every other
        detection (new people, lost tracks coming back, crowds, crossings) is embedded.
        """
        n = len(detections)
        need = np.ones(n, dtype=bool)
        live = [t for t in self.tracks if t.is_confirmed and t.time_since_update == 1]
        if n == 0 or not live or refresh_frames <= 0:
            return need
        others = [t for t in self.tracks if t not in live or not t.is_confirmed]
        iou = iou_matrix(np.stack([t.predicted_xyxy() for t in live]), detections.xyxy)  # (T, N)
        det_overlap = self._max_overlap(detections.xyxy)
        other_iou = (iou_matrix(np.stack([t.predicted_xyxy() for t in others]), detections.xyxy).max(axis=0)
                     if others else np.zeros(n))
        touching = iou > near_iou
        for j in range(n):
            rows = np.flatnonzero(touching[:, j])
            if len(rows) != 1 or det_overlap[j] > near_iou or other_iou[j] > near_iou:
                continue
            k = rows[0]
            t = live[k]
            if (iou[k, j] >= easy_iou and touching[k].sum() == 1
                    and t.frames_since_feature < refresh_frames):
                need[j] = False
        return need

    # ------------------------------------------------------------------------------------------------------
    def update(self, detections: Detections, frame_index: int) -> TrackerStep:
        """Advance one frame. detections: this frame's (N) detections (embeddings optional)."""
        cfg = self.cfg
        self.predict()
        self._predicted = False

        n = len(detections)
        feats = detections.embeddings if detections.has_embeddings else None
        overlap = self._max_overlap(detections.xyxy)
        high = [i for i in range(n) if detections.confidence[i] >= cfg.high_score_threshold]
        low = [i for i in range(n) if detections.confidence[i] < cfg.high_score_threshold]

        confirmed = [k for k, t in enumerate(self.tracks) if t.is_confirmed]
        tentative = [k for k, t in enumerate(self.tracks) if t.is_tentative]

        # 2. appearance + motion for confirmed tracks
        matches: list[tuple[int, int]] = []
        unmatched_confirmed = confirmed
        unmatched_high = high
        if confirmed and high:
            cost = self._fused_cost(confirmed, detections, high, feats)
            if cfg.matching_cascade:
                ages = [self.tracks[k].time_since_update for k in confirmed]
                m, um_r, um_c = matching_cascade(cost, INFEASIBLE - 1, ages, self.max_age_frames)
            else:
                m, um_r, um_c = linear_assignment(cost, INFEASIBLE - 1)
            matches += [(confirmed[r], high[c]) for r, c in m]
            unmatched_confirmed = [confirmed[r] for r in um_r]
            unmatched_high = [high[c] for c in um_c]

        # 3. IoU for tentative + just-missed confirmed tracks vs remaining high-score detections
        recent = [k for k in unmatched_confirmed if self.tracks[k].time_since_update <= cfg.iou_max_missed_frames]
        m, um_rows, unmatched_high = self._iou_match(tentative + recent, detections, unmatched_high,
                                                     cfg.max_iou_distance, feats)
        matches += m
        unmatched_confirmed = [k for k in unmatched_confirmed if k not in {a for a, _ in m}]

        # 4. ByteTrack's second pass: just-missed confirmed tracks vs low-score detections
        recent = [k for k in unmatched_confirmed if self.tracks[k].time_since_update <= cfg.iou_max_missed_frames]
        m, _, _ = self._iou_match(recent, detections, low, cfg.low_score_max_iou_distance)
        matches += m

        # apply matches
        step = TrackerStep()
        matched_tracks = set()
        for k, d in matches:
            t = self.tracks[k]
            feat = feats[d] if feats is not None else None
            became_confirmed = t.update(self.kf, detections.xyxy[d], float(detections.confidence[d]), feat,
                                        frame_index, update_appearance=overlap[d] <= cfg.appearance_update_max_iou)
            matched_tracks.add(k)
            if became_confirmed:
                t.track_id = self._next_id
                self._next_id += 1
                step.backfill += [(t.track_id, rec) for rec in list(t.history)[:-1]]
        for k, t in enumerate(self.tracks):
            if k not in matched_tracks:
                t.mark_missed()

        # 5. new tracks
        used = {d for _, d in matches}
        new: list[int] = []
        for d in unmatched_high:
            if d in used or detections.confidence[d] < cfg.new_track_score_threshold:
                continue
            mean, cov = self.kf.initiate(xyxy_to_xyah(detections.xyxy[d]))
            feat = feats[d] if feats is not None and overlap[d] <= cfg.appearance_update_max_iou else None
            track = Track(mean, cov, detections.xyxy[d], float(detections.confidence[d]), feat, frame_index,
                          cfg.n_init_frames, self.max_age_frames, cfg.ema_alpha, cfg.gallery_size, cfg.max_history)
            if track.is_confirmed:  # n_init_frames == 1
                track.track_id = self._next_id
                self._next_id += 1
            self.tracks.append(track)
            new.append(d)

        det_of_track = {id(self.tracks[k]): d for k, d in matches}
        det_of_track.update({id(t): d for t, d in zip(self.tracks[len(self.tracks) - len(new):], new)})
        step.deleted_ids = [t.track_id for t in self.tracks if t.is_deleted and t.track_id]
        self.tracks = [t for t in self.tracks if not t.is_deleted]

        for t in self.tracks:
            if not t.is_confirmed or t.time_since_update != 0:
                continue
            box = t.last_xyxy if cfg.output_box == "detection" else t.predicted_xyxy()
            d = det_of_track.get(id(t))
            step.outputs.append(TrackOutput(
                track_id=t.track_id, xyxy=np.asarray(box, dtype=np.float64), confidence=t.last_confidence,
                embedding=t.last_embedding if t.last_embedding is not None and np.any(t.last_embedding) else None,
                overlap_iou=float(overlap[d]) if d is not None else 0.0))
        return step

    # ------------------------------------------------------------------------------------------------------
    def _fused_cost(self, rows: list[int], detections: Detections, cols: list[int],
                    feats: np.ndarray | None) -> np.ndarray:
        cfg = self.cfg
        tracks = [self.tracks[k] for k in rows]
        det_xyxy = detections.xyxy[cols]
        det_xyah = xyxy_to_xyah(det_xyxy)
        pred_xyxy = np.stack([t.predicted_xyxy() for t in tracks])
        iou_d = iou_distance(pred_xyxy, det_xyxy)
        gate = self.kf.gating_distances(np.stack([t.mean for t in tracks]),
                                        np.stack([t.covariance for t in tracks]), det_xyah) <= cfg.gating_chi2
        if feats is not None:
            dim = feats.shape[1]
            track_feats = np.stack([t.feature if t.feature is not None else np.zeros(dim, np.float32)
                                    for t in tracks])
            app_d = cosine_distance(track_feats, feats[cols])
        else:
            app_d = np.full(iou_d.shape, np.nan)
        return fuse_costs(iou_d, app_d, gate, cfg.appearance_weight, cfg.max_cosine_distance,
                          cfg.max_iou_distance)

    def _iou_match(self, rows: list[int], detections: Detections, cols: list[int], max_iou_distance: float,
                   feats: np.ndarray | None = None) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """IoU assignment; where both sides have features, pairs that look too different stay infeasible."""
        if not rows or not cols:
            return [], rows, cols
        pred = np.stack([self.tracks[k].predicted_xyxy() for k in rows])
        cost = iou_distance(pred, detections.xyxy[cols])
        if feats is not None and self.cfg.iou_pass_appearance_gate:
            dim = feats.shape[1]
            track_feats = np.stack([self.tracks[k].feature if self.tracks[k].feature is not None
                                    else np.zeros(dim, np.float32) for k in rows])
            app = cosine_distance(track_feats, feats[cols])
            cost[~np.isnan(app) & (np.nan_to_num(app) > self.cfg.max_cosine_distance)] = INFEASIBLE
        m, um_r, um_c = linear_assignment(cost, max_iou_distance)
        return [(rows[r], cols[c]) for r, c in m], [rows[r] for r in um_r], [cols[c] for c in um_c]

    def _max_overlap(self, xyxy: np.ndarray) -> np.ndarray:
        """(N,) largest IoU of each detection with any other detection (computed once per frame's boxes)."""
        cached = self._overlap_cache
        if cached is not None and cached[0] is xyxy:
            return cached[1]
        if len(xyxy) < 2:
            out = np.zeros(len(xyxy))
        else:
            iou = iou_matrix(xyxy, xyxy)
            np.fill_diagonal(iou, 0.0)
            out = iou.max(axis=1)
        self._overlap_cache = (xyxy, out)
        return out
