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

from tracker.config.schema import KalmanConfig, TrackerConfig
from tracker.core.assignment import linear_assignment, matching_cascade
from tracker.core.boxes import iou_matrix, xyah_to_xyxy, xyxy_to_xyah
from tracker.core.costs import INFEASIBLE, cosine_distance, fuse_costs
from tracker.core.detections import Detections
from tracker.core.kalman import KalmanModel, clamp_height_velocity
from tracker.core.track import BoxRecord, Track, smooth_features

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
        # This frame's predicted states of self.tracks, row k = track k: means (T, 8), covariances (T, 8, 8),
        # boxes xyxy (T, 4). Valid from predict() until update() has applied its matches.
        self._pred_means = np.zeros((0, 8))
        self._pred_covs = np.zeros((0, 8, 8))
        self._pred_xyxy = np.zeros((0, 4))
        self._pred_s_inv: np.ndarray | None = None  # (T, 4, 4) inverse innovation covariances of the prediction
        # (detection boxes as bytes, track x detection IoU (T, N), largest IoU of each detection with another (N,)):
        # computed once per frame and shared by embedding_needed and every association pass.
        self._geometry: tuple[bytes, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------------------------------------------
    def predict(self) -> None:
        """Advance every track's Kalman state one frame, all tracks in one batch (``update`` does it if not
        called first)."""
        if self._predicted:
            return
        tracks = self.tracks
        if tracks:
            means = clamp_height_velocity(np.array([t.mean for t in tracks]))  # height must stay positive
            means, covs = self.kf.predict_batch(means, np.array([t.covariance for t in tracks]))
            boxes = xyah_to_xyxy(means[:, :4])
            for t, mean, cov, box in zip(tracks, means, covs, boxes):
                t.set_prediction(mean, cov, box)
            self._pred_means, self._pred_covs, self._pred_xyxy = means, covs, boxes
            # needed by gating and correction in nearly every frame; inverted here, with the other Kalman math
            self._pred_s_inv = self.kf.innovation_inverse(means, covs)
        else:
            self._pred_means, self._pred_covs, self._pred_xyxy = np.zeros((0, 8)), np.zeros((0, 8, 8)), np.zeros((0, 4))
            self._pred_s_inv = None
        self._geometry = None
        self._predicted = True

    def unambiguous_tracks(self, detections: Detections, easy_iou: float, near_iou: float) -> np.ndarray:
        """(N,) int: for each detection, the index in ``self.tracks`` of the track it continues unambiguously, or -1
        (call after ``predict``).

        Unambiguous: the detection overlaps exactly one confirmed track seen in the previous frame, by at least
        ``easy_iou``, and no other detection or track comes near (IoU > near_iou) either of them.
        """
        n = len(detections)
        out = np.full(n, -1, dtype=np.intp)
        if n == 0 or not self.tracks:
            return out
        live = np.array([t.is_confirmed and t.time_since_update == 1 for t in self.tracks])
        if not live.any():
            return out
        track_iou, det_overlap = self._frame_geometry(detections.xyxy)
        iou = track_iou[live]  # (L, N)
        other_iou = track_iou[~live].max(axis=0) if not live.all() else np.zeros(n)
        touching = iou > near_iou
        k = touching.argmax(axis=0)  # (N,) the one live track touching each detection (where there is one)
        easy = ((touching.sum(axis=0) == 1) & (det_overlap <= near_iou) & (other_iou <= near_iou)
                & (iou[k, np.arange(n)] >= easy_iou) & (touching.sum(axis=1)[k] == 1))
        out[easy] = np.flatnonzero(live)[k[easy]]
        return out

    def embedding_needed(self, detections: Detections, refresh_frames: int, easy_iou: float,
                         near_iou: float = 0.0, unambiguous: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: which detections need an appearance feature this frame (call after ``predict``).

        A detection can skip Re-ID when it continues a track unambiguously (``unambiguous_tracks``, passed in
        ``unambiguous`` when already computed) and that track got a feature within the last ``refresh_frames``
        frames. Every other detection (new people, lost tracks coming back, crowds, crossings) is embedded.
        """
        n = len(detections)
        need = np.ones(n, dtype=bool)
        if n == 0 or not self.tracks or refresh_frames <= 0:
            return need
        cont = self.unambiguous_tracks(detections, easy_iou, near_iou) if unambiguous is None else unambiguous
        fresh = np.array([t.frames_since_feature < refresh_frames for t in self.tracks])
        need[(cont >= 0) & fresh[np.maximum(cont, 0)]] = False
        return need

    # ------------------------------------------------------------------------------------------------------
    def update(self, detections: Detections, frame_index: int, unambiguous: np.ndarray | None = None) -> TrackerStep:
        """Advance one frame. detections: this frame's (N) detections (embeddings optional). unambiguous: (N,)
        from ``unambiguous_tracks`` (this frame, after ``predict``): those continuations are matched on motion
        alone, so a noisy embedding (one taken to refresh the track's appearance) cannot veto them."""
        cfg = self.cfg
        self.predict()
        self._predicted = False

        feats = detections.embeddings if detections.has_embeddings else None
        det_xyah = xyxy_to_xyah(detections.xyxy)  # (N, 4)
        track_iou, overlap = self._frame_geometry(detections.xyxy)
        confidence = detections.confidence.tolist()
        high = [d for d, c in enumerate(confidence) if c >= cfg.high_score_threshold]
        low = [d for d, c in enumerate(confidence) if c < cfg.high_score_threshold]
        # (T, N) cosine distances of every track's appearance to every detection's feature (NaN where missing)
        app = self._appearance_distances(feats) if feats is not None and high and self.tracks else None
        if app is not None and unambiguous is not None:
            trusted = np.flatnonzero(unambiguous >= 0)
            app[unambiguous[trusted], trusted] = np.nan  # NaN: no appearance evidence, as when not embedded

        confirmed = [k for k, t in enumerate(self.tracks) if t.is_confirmed]
        tentative = [k for k, t in enumerate(self.tracks) if t.is_tentative]

        # 2. appearance + motion for confirmed tracks
        matches: list[tuple[int, int]] = []
        unmatched_confirmed = confirmed
        unmatched_high = high
        if confirmed and high:
            cost = self._fused_cost(confirmed, det_xyah, high, track_iou, app)
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
        m, um_rows, unmatched_high = self._iou_match(tentative + recent, unmatched_high, cfg.max_iou_distance,
                                                     track_iou, app)
        matches += m
        matched_now = {a for a, _ in m}
        unmatched_confirmed = [k for k in unmatched_confirmed if k not in matched_now]

        # 4. ByteTrack's second pass: just-missed confirmed tracks vs low-score detections
        recent = [k for k in unmatched_confirmed if self.tracks[k].time_since_update <= cfg.iou_max_missed_frames]
        m, _, _ = self._iou_match(recent, low, cfg.low_score_max_iou_distance, track_iou)
        matches += m

        # apply matches: one batched Kalman correction for every matched track
        step = TrackerStep()
        matched_tracks = set()
        # per-detection values as Python lists / float64 rows, read once instead of per track
        det_xyxy = detections.xyxy.astype(np.float64)
        appearance_ok = (overlap <= cfg.appearance_update_max_iou).tolist()
        has_feature = feats.any(axis=1).tolist() if feats is not None else []
        if matches:
            rows = [k for k, _ in matches]
            cols = [d for _, d in matches]
            means, covs = self.kf.update_batch(self._pred_means[rows], self._pred_covs[rows], det_xyah[cols],
                                               self._innovation_inv()[rows])
            boxes = xyah_to_xyxy(means[:, :4])
            for (k, d), mean, cov, box in zip(matches, means, covs, boxes):
                t = self.tracks[k]
                feat = feats[d] if feats is not None else None
                became_confirmed = t.set_update(mean, cov, det_xyxy[d], confidence[d], feat, frame_index,
                                                False, box)
                matched_tracks.add(k)
                if became_confirmed:
                    t.track_id = self._next_id
                    self._next_id += 1
                    step.backfill += [(t.track_id, rec) for rec in list(t.history)[:-1]]
            if feats is not None:  # appearance: one EMA for every matched track that takes this frame's feature
                take = [(self.tracks[k], d) for k, d in matches if appearance_ok[d] and has_feature[d]]
                ema = [(t, d) for t, d in take if t.feature is not None]
                if ema:
                    smoothed = smooth_features(np.array([t.feature for t, _ in ema]), feats[[d for _, d in ema]],
                                               cfg.ema_alpha)
                    for (t, d), f in zip(ema, smoothed):
                        t.take_feature(feats[d], f)
                for t, d in take:
                    if t.feature is None:
                        t.take_feature(feats[d], None)
        for k, t in enumerate(self.tracks):
            if k not in matched_tracks:
                t.mark_missed()

        # 5. new tracks
        used = {d for _, d in matches}
        new: list[int] = []
        for d in unmatched_high:
            if d in used or confidence[d] < cfg.new_track_score_threshold:
                continue
            mean, cov = self.kf.initiate(det_xyah[d])
            feat = feats[d] if feats is not None and appearance_ok[d] else None
            track = Track(mean, cov, det_xyxy[d], confidence[d], feat, frame_index, cfg.n_init_frames,
                          self.max_age_frames, cfg.ema_alpha, cfg.gallery_size, cfg.max_history)
            if track.is_confirmed:  # n_init_frames == 1
                track.track_id = self._next_id
                self._next_id += 1
            self.tracks.append(track)
            new.append(d)

        det_of_track = {id(self.tracks[k]): d for k, d in matches}
        det_of_track.update({id(t): d for t, d in zip(self.tracks[len(self.tracks) - len(new):], new)})
        step.deleted_ids = [t.track_id for t in self.tracks if t.is_deleted and t.track_id]
        self.tracks = [t for t in self.tracks if not t.is_deleted]
        self._geometry = None

        overlap_list = overlap.tolist()
        for t in self.tracks:
            if not t.is_confirmed or t.time_since_update != 0:
                continue
            box = t.last_xyxy if cfg.output_box == "detection" else t.predicted_xyxy()
            d = det_of_track.get(id(t))
            emb = t.last_embedding  # this frame's feature of its detection d, or None
            if emb is not None and not (has_feature[d] if d is not None else emb.any()):
                emb = None
            step.outputs.append(TrackOutput(
                track_id=t.track_id, xyxy=np.asarray(box, dtype=np.float64), confidence=t.last_confidence,
                embedding=emb, overlap_iou=overlap_list[d] if d is not None else 0.0))
        return step

    # ------------------------------------------------------------------------------------------------------
    def _fused_cost(self, rows: list[int], det_xyah: np.ndarray, cols: list[int], track_iou: np.ndarray,
                    app: np.ndarray | None) -> np.ndarray:
        """(len(rows), len(cols)) first-pass cost of tracks ``rows`` x detections ``cols``.

        det_xyah: (N, 4) this frame's boxes; track_iou: (T, N) IoU of every track with every detection; app:
        (T, N) cosine distances or None. Computed for all T x N pairs (a few whole-matrix operations), then cut.
        """
        cfg = self.cfg
        gate = self.kf.gating_distances(self._pred_means, self._pred_covs, det_xyah,
                                        self._innovation_inv()) <= cfg.gating_chi2
        app_d = app if app is not None else np.full(track_iou.shape, np.nan)
        cost = fuse_costs(1.0 - track_iou, app_d, gate, cfg.appearance_weight, cfg.max_cosine_distance,
                          cfg.max_iou_distance)
        return cost[rows][:, cols]

    def _iou_match(self, rows: list[int], cols: list[int], max_iou_distance: float, track_iou: np.ndarray,
                   app: np.ndarray | None = None) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """IoU assignment of tracks ``rows`` x detections ``cols``; with ``app`` (T, N) cosine distances (and
        ``iou_pass_appearance_gate``), pairs that look too different stay infeasible (NaN = no feature: allowed)."""
        if not rows or not cols:
            return [], rows, cols
        cost = 1.0 - track_iou[rows][:, cols]
        if app is not None and self.cfg.iou_pass_appearance_gate:
            cost[app[rows][:, cols] > self.cfg.max_cosine_distance] = INFEASIBLE  # NaN compares False
        m, um_r, um_c = linear_assignment(cost, max_iou_distance)
        return [(rows[r], cols[c]) for r, c in m], [rows[r] for r in um_r], [cols[c] for c in um_c]

    def _innovation_inv(self) -> np.ndarray:
        """(T, 4, 4) inverse innovation covariances of this frame's predicted states (gating and correction)."""
        if self._pred_s_inv is None:
            self._pred_s_inv = self.kf.innovation_inverse(self._pred_means, self._pred_covs)
        return self._pred_s_inv

    def _appearance_distances(self, feats: np.ndarray) -> np.ndarray:
        """feats: (N, D) this frame's detection features -> (T, N) cosine distance of every track's appearance
        (NaN where either side has no feature)."""
        zero = np.zeros(feats.shape[1], np.float32)
        track_feats = np.array([t.feature if t.feature is not None else zero for t in self.tracks])
        return cosine_distance(track_feats, feats)

    def _frame_geometry(self, det_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """det_xyxy: (N, 4) this frame's boxes -> (T, N) IoU of every track's predicted box with every detection,
        and (N,) the largest IoU of each detection with any other detection. One IoU computation per frame."""
        key = det_xyxy.tobytes()  # Detections.with_embeddings makes a new array object with the same boxes
        cached = self._geometry
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        n, t = len(det_xyxy), len(self.tracks)
        if self._predicted:
            track_xyxy = self._pred_xyxy
        else:
            track_xyxy = np.stack([tr.predicted_xyxy() for tr in self.tracks]) if t else np.zeros((0, 4))
        iou = iou_matrix(np.concatenate([track_xyxy, det_xyxy]), det_xyxy)  # (T + N, N)
        track_iou, det_iou = iou[:t], iou[t:]
        if n < 2:
            overlap = np.zeros(n)
        else:
            np.fill_diagonal(det_iou, 0.0)
            overlap = det_iou.max(axis=1)
        self._geometry = (key, track_iou, overlap)
        return track_iou, overlap
