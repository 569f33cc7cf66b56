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
6. Switches (``split_switches``): a confirmed track that was near someone (its box overlapped another detection or
   track, or it came back after missed frames) and whose embeddings afterwards are usual for another track's
   appearance and unusual for its own before (each in its own spread) followed another person out of the
   crossing (``tracker.core.switch``): it continues under a new local id, so that the hub sees two tracks and
   can give each part its person.
7. Gap filling (``fill_gaps_max_s``): a confirmed track found again after at most that many seconds of missed
   frames gets the boxes of the gap, interpolated between its output boxes before and after it
   (``tracker.core.gap_fill``), written late like a tentative track's boxes.

No cv2, models, Redis or app config here: the tracker reads ``TrackerParams`` and ``KalmanParams``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from tracker.core.assignment import linear_assignment, matching_cascade
from tracker.core.boxes import iou_matrix, xyah_to_xyxy, xyxy_to_xyah
from tracker.core.costs import INFEASIBLE, cosine_distance, fuse_costs
from tracker.core.detections import Detections
from tracker.core.gap_fill import gap_fill_max_frames, interpolate_gap
from tracker.core.kalman import KalmanModel, clamp_height_velocity
from tracker.core.params import KalmanParams, TrackerParams
from tracker.core.switch import ReferenceStats, is_switch
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
    """Result of one ``update``: confirmed tracks of this frame, and boxes of earlier frames written late: those
    newly confirmed tracks had while tentative (``backfill``), and those interpolated over the gap of a track found
    again (``filled``)."""

    outputs: list[TrackOutput] = field(default_factory=list)
    backfill: list[tuple[int, BoxRecord]] = field(default_factory=list)  # (track_id, record)
    filled: list[tuple[int, BoxRecord]] = field(default_factory=list)  # (track_id, record), frames in order
    deleted_ids: list[int] = field(default_factory=list)
    splits: list[tuple[int, int]] = field(default_factory=list)  # (old id, new id): a switch split the track


@dataclass(frozen=True)
class _FrameInputs:
    """One frame's detections as every association pass reads them (T tracks, N detections, D feature length).

    feats: (N, D) embeddings or None; det_xyah: (N, 4); det_xyxy: (N, 4) float64; confidence: N scores;
    high / low: indices of detections at or above / below ``high_score_threshold``; track_iou: (T, N) IoU of each
    track's predicted box with each detection; overlap: (N,) largest IoU of each detection with another one;
    app: (T, N) cosine distances (NaN: no appearance evidence) or None; appearance_ok: N flags, the detection is
    not occluded (may update appearance); has_feature: N flags, the detection has a non-zero embedding (empty
    without embeddings).
    """

    feats: np.ndarray | None
    det_xyah: np.ndarray
    det_xyxy: np.ndarray
    confidence: list[float]
    high: list[int]
    low: list[int]
    track_iou: np.ndarray
    overlap: np.ndarray
    app: np.ndarray | None
    appearance_ok: list[bool]
    has_feature: list[bool]


class MultiObjectTracker:
    """Tracks people in one camera.

    Args:
        params: association and lifecycle tunables. kalman: Kalman noise model (DeepSORT's when None). fps: the
        camera's frame rate (turns ``max_age_s`` into frames).
    """

    def __init__(self, params: TrackerParams, kalman: KalmanParams | None = None, fps: float = 25.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.params = params
        self.kf = KalmanModel(kalman)
        self.fps = fps
        self.max_age_frames = max(1, int(round(params.max_age_s * fps)))
        self.watch_frames = max(1, int(round(params.switch_watch_s * fps)))
        self.fill_gap_max_frames = gap_fill_max_frames(params.fill_gaps_max_s, fps)
        # (frame deleted or split, reference appearance) of tracks that ended recently: a switched track may
        # have taken the person one of them followed
        self._ended: deque[tuple[int, ReferenceStats]] = deque(maxlen=64)
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
        m = self.params.switch_min_embeddings if self.params.split_switches else 0
        # a track watched after a crossing wants min_embeddings embeddings soon (the switch test needs them)
        fresh = np.array([t.frames_since_feature < refresh_frames
                          and not (t.watch.watching and len(t.watch.recent) < m) for t in self.tracks])
        need[(cont >= 0) & fresh[np.maximum(cont, 0)]] = False
        return need

    # ------------------------------------------------------------------------------------------------------
    def update(self, detections: Detections, frame_index: int, unambiguous: np.ndarray | None = None) -> TrackerStep:
        """Advance one frame. detections: this frame's (N) detections (embeddings optional). unambiguous: (N,)
        from ``unambiguous_tracks`` (this frame, after ``predict``): those continuations are matched on motion
        alone, so a noisy embedding (one taken to refresh the track's appearance) cannot veto them."""
        self.predict()
        self._predicted = False
        frame = self._frame_inputs(detections, unambiguous)
        matches, unmatched_high = self._associate(frame)
        step = TrackerStep()
        step.backfill = self._correct_matched(matches, frame, frame_index)
        if self.params.split_switches:
            self._mark_crossings(matches, frame, frame_index)
        self._update_appearances(matches, frame)
        watched = self._switch_candidates(matches, frame) if self.params.split_switches else []
        self._mark_missed({k for k, _ in matches})
        new = self._start_tracks(unmatched_high, {d for _, d in matches}, frame, frame_index)
        det_of_track = self._detection_of_track(matches, new)
        step.deleted_ids = self._remove_deleted(frame_index)
        if self.params.split_switches:
            step.splits = self._split_switches(watched, frame_index)
            step.deleted_ids += [old for old, _ in step.splits]
        step.outputs, step.filled = self._outputs(det_of_track, frame, frame_index)
        return step

    @property
    def max_late_frames(self) -> int:
        """How many frames late a box of ``TrackerStep.backfill`` or ``filled`` may come: a tentative track's first
        box at its confirmation, or the first frame of a filled gap."""
        return max(self.params.n_init_frames - 1, self.fill_gap_max_frames)

    # -- update's passes, in order -------------------------------------------------------------------------
    def _frame_inputs(self, detections: Detections, unambiguous: np.ndarray | None) -> _FrameInputs:
        """This frame's per-detection values, computed once and read by every pass."""
        p = self.params
        feats = detections.embeddings if detections.has_embeddings else None
        track_iou, overlap = self._frame_geometry(detections.xyxy)
        confidence = detections.confidence.tolist()
        high = [d for d, c in enumerate(confidence) if c >= p.high_score_threshold]
        low = [d for d, c in enumerate(confidence) if c < p.high_score_threshold]
        app = self._appearance_distances(feats) if feats is not None and high and self.tracks else None
        if app is not None and unambiguous is not None:
            trusted = np.flatnonzero(unambiguous >= 0)
            app[unambiguous[trusted], trusted] = np.nan  # NaN: no appearance evidence, as when not embedded
        return _FrameInputs(
            feats=feats, det_xyah=xyxy_to_xyah(detections.xyxy), det_xyxy=detections.xyxy.astype(np.float64),
            confidence=confidence, high=high, low=low, track_iou=track_iou, overlap=overlap, app=app,
            appearance_ok=cast(list[bool], (overlap <= p.appearance_update_max_iou).tolist()),
            has_feature=cast(list[bool], feats.any(axis=1).tolist()) if feats is not None else [])

    def _associate(self, f: _FrameInputs) -> tuple[list[tuple[int, int]], list[int]]:
        """Passes 2-4 -> (track index, detection index) matches, and the high-score detections left unmatched."""
        confirmed = [k for k, t in enumerate(self.tracks) if t.is_confirmed]
        tentative = [k for k, t in enumerate(self.tracks) if t.is_tentative]
        matches, unmatched_confirmed, unmatched_high = self._match_confirmed(confirmed, f)
        m, unmatched_high = self._match_iou(tentative, unmatched_confirmed, unmatched_high, f)
        matches += m
        matched_now = {k for k, _ in m}
        unmatched_confirmed = [k for k in unmatched_confirmed if k not in matched_now]
        matches += self._match_low_score(unmatched_confirmed, f)
        return matches, unmatched_high

    def _match_confirmed(self, confirmed: list[int],
                         f: _FrameInputs) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Pass 2: appearance + motion for confirmed tracks x high-score detections -> (matches, unmatched
        confirmed tracks, unmatched high-score detections)."""
        high = f.high
        if not confirmed or not high:
            return [], confirmed, high
        cost = self._fused_cost(confirmed, f.det_xyah, high, f.track_iou, f.app)
        if self.params.matching_cascade:
            ages = [self.tracks[k].time_since_update for k in confirmed]
            m, um_r, um_c = matching_cascade(cost, INFEASIBLE - 1, ages, self.max_age_frames)
        else:
            m, um_r, um_c = linear_assignment(cost, INFEASIBLE - 1)
        return [(confirmed[r], high[c]) for r, c in m], [confirmed[r] for r in um_r], [high[c] for c in um_c]

    def _match_iou(self, tentative: list[int], unmatched_confirmed: list[int], unmatched_high: list[int],
                   f: _FrameInputs) -> tuple[list[tuple[int, int]], list[int]]:
        """Pass 3: IoU for tentative + just-missed confirmed tracks x remaining high-score detections -> (matches,
        high-score detections still unmatched)."""
        recent = self._recently_seen(unmatched_confirmed)
        m, _, unmatched_high = self._iou_match(tentative + recent, unmatched_high, self.params.max_iou_distance,
                                               f.track_iou, f.app)
        return m, unmatched_high

    def _match_low_score(self, unmatched_confirmed: list[int], f: _FrameInputs) -> list[tuple[int, int]]:
        """Pass 4 (ByteTrack's second pass): just-missed confirmed tracks x low-score detections, on IoU."""
        recent = self._recently_seen(unmatched_confirmed)
        m, _, _ = self._iou_match(recent, f.low, self.params.low_score_max_iou_distance, f.track_iou)
        return m

    def _recently_seen(self, rows: list[int]) -> list[int]:
        """The tracks of ``rows`` missed for at most ``iou_max_missed_frames`` frames (IoU passes may take them)."""
        return [k for k in rows if self.tracks[k].time_since_update <= self.params.iou_max_missed_frames]

    def _correct_matched(self, matches: list[tuple[int, int]], f: _FrameInputs,
                         frame_index: int) -> list[tuple[int, BoxRecord]]:
        """One batched Kalman correction for every matched track; tracks confirmed now get their id. Returns the
        (track_id, record) boxes the newly confirmed tracks had while tentative."""
        backfill: list[tuple[int, BoxRecord]] = []
        if not matches:
            return backfill
        rows = [k for k, _ in matches]
        cols = [d for _, d in matches]
        means, covs = self.kf.update_batch(self._pred_means[rows], self._pred_covs[rows], f.det_xyah[cols],
                                           self._innovation_inv()[rows])
        boxes = xyah_to_xyxy(means[:, :4])
        feats = f.feats
        for (k, d), mean, cov, box in zip(matches, means, covs, boxes):
            t = self.tracks[k]
            feat = feats[d] if feats is not None else None
            if t.set_update(mean, cov, f.det_xyxy[d], f.confidence[d], feat, frame_index, False, box):
                t.track_id = self._take_id()
                backfill += [(t.track_id, rec) for rec in list(t.history)[:-1]]
        return backfill

    def _update_appearances(self, matches: list[tuple[int, int]], f: _FrameInputs) -> None:
        """One appearance EMA for every matched track that takes this frame's feature (its detection has one and
        is not occluded); a track's first feature is taken as is."""
        feats = f.feats
        if not matches or feats is None:
            return
        take = [(self.tracks[k], d) for k, d in matches if f.appearance_ok[d] and f.has_feature[d]]
        ema = [(t, d) for t, d in take if t.feature is not None]
        if ema:
            smoothed = smooth_features(np.array([t.feature for t, _ in ema]), feats[[d for _, d in ema]],
                                       self.params.ema_alpha)
            for (t, d), s in zip(ema, smoothed):
                t.take_feature(feats[d], s)
        for t, d in take:
            if t.feature is None:
                t.take_feature(feats[d], None)

    def _mark_missed(self, matched: set[int]) -> None:
        """Pass 5, lifecycle: every track not in ``matched`` missed this frame (tentative ones die now)."""
        for k, t in enumerate(self.tracks):
            if k not in matched:
                t.mark_missed()

    def _start_tracks(self, unmatched_high: list[int], used: set[int], f: _FrameInputs,
                      frame_index: int) -> list[int]:
        """Pass 5, births: each unmatched detection confident enough starts a (tentative) track, appended to
        ``self.tracks``. Returns those detections' indices, in track order."""
        p = self.params
        new: list[int] = []
        for d in unmatched_high:
            if d in used or f.confidence[d] < p.new_track_score_threshold:
                continue
            mean, cov = self.kf.initiate(f.det_xyah[d])
            feat = f.feats[d] if f.feats is not None and f.appearance_ok[d] else None
            track = Track(mean, cov, f.det_xyxy[d], f.confidence[d], feat, frame_index, p.n_init_frames,
                          self.max_age_frames, p.ema_alpha, p.gallery_size, p.max_history)
            if track.is_confirmed:  # n_init_frames == 1
                track.track_id = self._take_id()
            self.tracks.append(track)
            new.append(d)
        return new

    def _mark_crossings(self, matches: list[tuple[int, int]], f: _FrameInputs, frame_index: int) -> None:
        """Pass 6a: confirmed tracks whose detection overlaps another detection or another track's predicted box,
        or that came back after missed frames, are in a crossing: their appearance is watched (the reference
        stays as before the crossing) for ``switch_watch_s``; watches that are over end."""
        for k, d in matches:
            t = self.tracks[k]
            if not t.is_confirmed:
                continue
            back = len(t.history) >= 2 and t.history[-2].frame_index < frame_index - 1
            others = f.track_iou[:, d].copy()
            others[k] = 0.0
            if back or f.overlap[d] > 0.0 or others.max() > 0.0:
                t.watch.crossing(frame_index, self.watch_frames)
        for t in self.tracks:
            t.watch.end_watch_if_due(frame_index)

    def _switch_candidates(self, matches: list[tuple[int, int]], f: _FrameInputs) -> list[Track]:
        """The confirmed tracks whose watch took a new embedding this frame and holds ``switch_min_embeddings``."""
        m = self.params.switch_min_embeddings
        took = [self.tracks[k] for k, d in matches if f.appearance_ok[d] and f.has_feature and f.has_feature[d]]
        return [t for t in took if t.is_confirmed and t.watch.watching and len(t.watch.recent) >= m]

    def _split_switches(self, due: list[Track], frame_index: int) -> list[tuple[int, int]]:
        """Pass 6b: a watched track of ``due`` (``_switch_candidates``) whose last ``switch_min_embeddings``
        embeddings since the crossing show another person (``is_switch``) continues under a new id, its appearance
        restarted from those embeddings. Returns the (old id, new id) pairs."""
        p = self.params
        m = p.switch_min_embeddings
        tracks_now = {id(t) for t in self.tracks}
        due = [t for t in due if id(t) in tracks_now]
        if not due:
            return []
        self._ended = deque(((fr, s) for fr, s in self._ended if frame_index - fr <= self.max_age_frames),
                            maxlen=self._ended.maxlen)
        refs = {id(t): t.watch.stats() for t in self.tracks}
        # the camera's typical within-track variance: each reference's own is shrunk towards it
        pooled = [s.var for s in refs.values() if s is not None and s.n >= 2 * m]
        pooled_var = float(np.median(pooled)) if pooled else None
        splits: list[tuple[int, int]] = []
        for t in due:
            ref = refs[id(t)]
            if ref is None or ref.n < 2 * m:  # a shorter reference's spread is unreliable
                continue
            others = [s for key, s in refs.items() if s is not None and key != id(t) and s.n >= 2 * m]
            others += [s for _, s in self._ended if s.n >= 2 * m]
            recent = list(t.watch.recent)[-m:]
            if not is_switch(ref, np.array(recent), others, p.switch_sigmas, pooled_var, m):
                continue
            old = t.track_id
            t.track_id = self._take_id()
            self._ended.append((frame_index, ref))
            t.restart_appearance(recent)
            t.last_output = None  # the new id has no box before this frame: no gap to fill across the split
            splits.append((old, t.track_id))
            log.debug("track %d switched people after a crossing: continues as %d (frame %d)", old, t.track_id,
                      frame_index)
        return splits

    def _detection_of_track(self, matches: list[tuple[int, int]], new: list[int]) -> dict[int, int]:
        """id(track) -> its detection in this frame, for matched and new tracks (before deleted ones leave)."""
        det_of_track = {id(self.tracks[k]): d for k, d in matches}
        det_of_track.update({id(t): d for t, d in zip(self.tracks[len(self.tracks) - len(new):], new)})
        return det_of_track

    def _remove_deleted(self, frame_index: int) -> list[int]:
        """Drop deleted tracks (remembering the appearance of confirmed ones for ``max_age``); returns the ids of
        those that had been confirmed."""
        deleted_ids = [t.track_id for t in self.tracks if t.is_deleted and t.track_id]
        for t in self.tracks:
            stats = t.watch.stats() if t.is_deleted and t.track_id else None
            if stats is not None:
                self._ended.append((frame_index, stats))
        self.tracks = [t for t in self.tracks if not t.is_deleted]
        self._geometry = None
        return deleted_ids

    def _outputs(self, det_of_track: dict[int, int], f: _FrameInputs,
                 frame_index: int) -> tuple[list[TrackOutput], list[tuple[int, BoxRecord]]]:
        """The confirmed tracks updated in this frame, in track order, and the (track_id, record) boxes filled in
        over the gaps of those found again after at most ``fill_gap_max_frames`` missed frames."""
        outputs: list[TrackOutput] = []
        filled: list[tuple[int, BoxRecord]] = []
        overlap_list = f.overlap.tolist()
        for t in self.tracks:
            if not t.is_confirmed or t.time_since_update != 0:
                continue
            box = np.array(t.last_xyxy if self.params.output_box == "detection" else t.predicted_xyxy(),
                           dtype=np.float64)
            now = BoxRecord(frame_index, box, t.last_confidence)
            before = t.last_output
            if before is not None and 0 < frame_index - before.frame_index - 1 <= self.fill_gap_max_frames:
                filled += [(t.track_id, rec) for rec in interpolate_gap(before, now)]
            t.last_output = now
            d = det_of_track.get(id(t))
            emb = t.last_embedding  # this frame's feature of its detection d, or None
            if emb is not None and not (f.has_feature[d] if d is not None else emb.any()):
                emb = None
            outputs.append(TrackOutput(
                track_id=t.track_id, xyxy=box, confidence=t.last_confidence,
                embedding=emb, overlap_iou=overlap_list[d] if d is not None else 0.0))
        return outputs, filled

    def _take_id(self) -> int:
        """The next per-camera track id (ids start at 1 and are never reused)."""
        track_id = self._next_id
        self._next_id += 1
        return track_id

    # ------------------------------------------------------------------------------------------------------
    def _fused_cost(self, rows: list[int], det_xyah: np.ndarray, cols: list[int], track_iou: np.ndarray,
                    app: np.ndarray | None) -> np.ndarray:
        """(len(rows), len(cols)) first-pass cost of tracks ``rows`` x detections ``cols``.

        det_xyah: (N, 4) this frame's boxes; track_iou: (T, N) IoU of every track with every detection; app:
        (T, N) cosine distances or None. Computed for all T x N pairs (a few whole-matrix operations), then cut.
        """
        p = self.params
        gate = self.kf.gating_distances(self._pred_means, self._pred_covs, det_xyah,
                                        self._innovation_inv()) <= p.gating_chi2
        app_d = app if app is not None else np.full(track_iou.shape, np.nan)
        cost = fuse_costs(1.0 - track_iou, app_d, gate, p.appearance_weight, p.max_cosine_distance,
                          p.max_iou_distance)
        return cost[rows][:, cols]

    def _iou_match(self, rows: list[int], cols: list[int], max_iou_distance: float, track_iou: np.ndarray,
                   app: np.ndarray | None = None) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """IoU assignment of tracks ``rows`` x detections ``cols``; with ``app`` (T, N) cosine distances (and
        ``iou_pass_appearance_gate``), pairs that look too different stay infeasible (NaN = no feature: allowed)."""
        if not rows or not cols:
            return [], rows, cols
        cost = 1.0 - track_iou[rows][:, cols]
        if app is not None and self.params.iou_pass_appearance_gate:
            cost[app[rows][:, cols] > self.params.max_cosine_distance] = INFEASIBLE  # NaN compares False
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
