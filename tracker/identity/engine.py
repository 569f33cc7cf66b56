"""Cross-camera identity assignment: the pure core of the hub (no Redis, no OpenCV).

Each confirmed local track (camera, local id) gets a global id. The hub feeds :meth:`IdentityEngine.observe` with
frame updates and calls :meth:`IdentityEngine.decide`, which

* defers a track until it has ``min_embeddings`` good embeddings -- and, with ground positions, ``min_shared_s``
  of them -- (or is ``max_defer_s`` old, or ended);
* compares its mean embedding, after per-camera normalisation (:class:`CameraNormalizer`), with the gallery: the
  mean embeddings of each identity's recent tracks (at most ``prototypes_per_camera`` closed ones per camera);
* forbids what cannot happen (:class:`Topology`): one identity in two simultaneous tracks of one camera, or in two
  disjoint cameras closer in time than their transition time;
* assigns the ready tracks of one camera jointly with the Hungarian algorithm (two tracks seen together in one
  camera are two people), cameras one after the other so that a person entering two overlapping cameras at once
  gets one id; a track that fits no identity (similarity below ``match_threshold``) gets a new global id;
* re-checks young assignments for ``correction_window_s`` as embeddings arrive and moves a track when another
  identity fits clearly better (``correction_margin``); an identity left without tracks is retired.

Tracks of calibrated cameras also carry ground-plane positions (metres, ``ground.py``; params ``ground``). Where a
query track and an identity's track in another camera share at least ``min_shared_s`` of time, the median
distance over that whole span, in standard deviations of their combined uncertainty, decides: above
``gate_sigmas`` the identity is infeasible (a look-alike elsewhere is never merged), below it the similarity gains
up to ``weight``. Such an identity may also take a track that overlaps one of its tracks of the same camera by at
most ``handover_s`` (the camera tracker's old track lingering). Tracks one after the other (any cameras,
re-entries too) must be reachable at ``max_speed_mps``; where both have positions this replaces the topology's
transition time. A periodic refinement (``refine_interval_s``) splits an identity two of whose tracks disagree on
the ground over their shared time (at least ``refine_span_s``) and merges two identities whose tracks agree on it
over ``refine_span_s`` without contradicting appearance. Without positions none of this runs (a calibrated track
also waits for ``min_shared_s`` of positions before its first decision).

Similarities are cosine similarities of L2-normalised vectors. Times are the cameras' timestamps in seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.identity.gallery import Gallery
from tracker.identity.ground import GroundHistory, shared_span, travel_infeasible
from tracker.identity.normalizer import CameraNormalizer
from tracker.identity.params import IdentityParams
from tracker.identity.records import CameraTrack, CorrectionCause, Identity, IdentityEvent, TrackKey
from tracker.identity.topology import Topology
from tracker.identity.vectors import l2_normalize

__all__ = ["IdentityEngine", "MIN_EMBEDDING_WEIGHT", "HOUSEKEEPING_INTERVAL_S"]

logger = logging.getLogger(__name__)

# Weight of an embedding is its quality, floored so that quality-0 embeddings still count when nothing else does.
MIN_EMBEDDING_WEIGHT = 1e-3
_INFEASIBLE_COST = 1e6
# Ending stale tracks and evicting identities scan everything: at most once per this much camera time.
HOUSEKEEPING_INTERVAL_S = 0.25
# Ground samples of another track are interpolated across gaps of at most this many sample intervals.
_GROUND_MAX_GAP_INTERVALS = 3.0
# Durations compared with a threshold are sums of sample intervals: forgive their rounding.
_TIME_EPS_S = 1e-6


class _Scores(NamedTuple):
    """Per query track and identity column (Q, ncols): best appearance similarity (-inf: none), conflict (any
    constraint, ground included), ground_conflict (the ground constraints alone) and ground_sigmas (median ground
    distance in standard deviations over the shared time, averaged over the identity's tracks weighted by their
    samples; NaN without ground evidence)."""

    sim: np.ndarray
    conflict: np.ndarray
    ground_conflict: np.ndarray
    ground_sigmas: np.ndarray


def _simultaneous_batches(tracks: list[CameraTrack]) -> list[list[CameraTrack]]:
    """Split one camera's ready tracks (sorted by start) into batches of tracks that all overlap in time.

    Tracks in one batch are seen together, so they are different people (one Hungarian assignment); a track that
    starts after another ended goes to a later batch and may join the identity the earlier one got or founded.
    """
    batches: list[list[CameraTrack]] = []
    for t in tracks:
        for batch in batches:
            if all(t.first_ts <= u.last_ts and u.first_ts <= t.last_ts for u in batch):
                batch.append(t)
                break
        else:
            batches.append([t])
    return batches


def _box_distance(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> float:
    """Distance in pixels between the centres of two (4,) xyxy boxes."""
    return float(np.hypot((a_xyxy[0] + a_xyxy[2] - b_xyxy[0] - b_xyxy[2]) / 2,
                          (a_xyxy[1] + a_xyxy[3] - b_xyxy[1] - b_xyxy[3]) / 2))


class IdentityEngine:
    """Assigns global ids to local tracks; see the module docstring for the rules.

    Args:
        params: assignment, correction and retention tunables, with the camera topology and normalisation.
        allocate_gid: returns a fresh global id (the hub uses Redis INCR so several processes never collide).
    """

    def __init__(self, params: IdentityParams, allocate_gid: Callable[[], int]) -> None:
        self.params = params
        self.allocate_gid = allocate_gid
        self.topology = Topology(params.topology)
        self.normalizer = CameraNormalizer(params.normalization)
        self.tracks: dict[TrackKey, CameraTrack] = {}
        self.identities: dict[int, Identity] = {}
        self.camera_clock: dict[str, float] = {}
        self._pending: set[TrackKey] = set()
        self._young: set[TrackKey] = set()
        self._cameras: dict[str, int] = {}
        self._min_gap = np.zeros((0, 0), np.float64)
        self._rows = Gallery()
        self._col_gid: list[int] = []
        self._free_cols: list[int] = []
        self._last_housekeeping = -math.inf
        self._any_ground = False
        self._last_refine = -math.inf

    # ------------------------------------------------------------------------------------------------ input
    @property
    def dim(self) -> int:
        return self._rows.dim

    @property
    def clock_s(self) -> float:
        """Latest timestamp seen on any camera (-inf before the first update)."""
        return max(self.camera_clock.values(), default=-math.inf)

    def _camera_index(self, camera: str) -> int:
        idx = self._cameras.get(camera)
        if idx is None:
            idx = len(self._cameras)
            self._cameras[camera] = idx
            names = list(self._cameras)
            self._min_gap = np.array([[self.topology.min_gap_s(a, b) for b in names] for a in names], np.float64)
        return idx

    def check_dim(self, dim: int) -> None:
        """Raise ValueError if embeddings of length ``dim`` cannot be mixed with the gallery's."""
        if self._rows.dim and dim != self._rows.dim:
            raise ValueError(f"embedding length {dim} differs from the gallery's {self._rows.dim}: all workers "
                             f"must run the same Re-ID model (reid.model_name / reid.weights)")

    def observe(self, camera: str, frame_index: int, timestamp_s: float, local_ids: Sequence[int],
                emb_index: np.ndarray | None = None, embeddings: np.ndarray | None = None,
                quality: np.ndarray | None = None, positions_m: np.ndarray | None = None,
                position_cov_m2: np.ndarray | None = None, boxes_xyxy: np.ndarray | None = None) -> list[CameraTrack]:
        """Apply one camera frame: N track updates, M of which carry an embedding.

        Args:
            local_ids: (N,) local track ids updated in this frame.
            emb_index: (M,) rows of local_ids that carry an embedding; embeddings: (M, D) float32 (any norm).
            quality: (N,) embedding quality in [0, 1] (weights the embedding; see min_embedding_quality).
            positions_m: (N, 2) ground-plane positions in metres of the tracks' foot points (calibrated cameras
                only; a NaN row: no position this frame, e.g. the feet are outside the image).
            position_cov_m2: covariances of positions_m in m^2: (N, 2, 2), (N, 3) packed as (var_x, cov_xy,
                var_y) like the frame message's ground fields, or (N,) isotropic variances; None: zero (only the
                floor ``ground.position_sigma_floor_m`` counts).
            boxes_xyxy: (N, 4) the tracks' boxes in camera pixels (re-linking a camera's own fragments), or None.
        Returns:
            the N CameraTrack objects (created on first sight).
        Raises:
            ValueError: embeddings of a different length than earlier ones (nothing is applied then).
        """
        m = 0 if emb_index is None else len(emb_index)
        units: np.ndarray | None = None
        if m:
            emb = np.asarray(embeddings, np.float32).reshape(m, -1)
            self.check_dim(emb.shape[1])
            if not self._rows.dim:
                self._rows.set_dim(emb.shape[1])
            units = l2_normalize(emb)
        self._camera_index(camera)
        ts = float(timestamp_s)
        if ts > self.camera_clock.get(camera, -math.inf):
            self.camera_clock[camera] = ts
        out = [self._touch(camera, int(lid), ts, int(frame_index)) for lid in local_ids]
        if units is not None and emb_index is not None:
            self._add_embeddings(camera, out, np.asarray(emb_index, np.int64), units, quality)
        if positions_m is not None and len(out):
            self._add_positions(out, ts, positions_m, position_cov_m2)
        if boxes_xyxy is not None and len(out):
            boxes = np.asarray(boxes_xyxy, np.float64).reshape(len(out), 4)
            for t, box in zip(out, boxes):
                if t.first_box is None or t.first_ts == ts:
                    t.first_box = box
                if t.last_ts == ts:
                    t.last_box = box
        return out

    def _add_positions(self, tracks: list[CameraTrack], ts: float, positions_m: np.ndarray,
                       position_cov_m2: np.ndarray | None) -> None:
        """Append positions (N, 2) m with covariances (N, 2, 2) / packed (N, 3) / variances (N,) m^2 / None to the
        N tracks' ground histories (NaN rows skipped)."""
        n = len(tracks)
        xy = np.asarray(positions_m, np.float64).reshape(n, 2)
        if position_cov_m2 is None:
            cov = np.zeros((n, 2, 2))
        else:
            c = np.asarray(position_cov_m2, np.float64)
            if c.size == 4 * n:
                cov = c.reshape(n, 2, 2)
            elif c.size == 3 * n:
                c = c.reshape(n, 3)
                cov = np.stack([c[:, [0, 1]], c[:, [1, 2]]], axis=1)
            elif c.size == n:
                cov = c.reshape(n)[:, None, None] * np.eye(2)
            else:
                raise ValueError(f"position_cov_m2 of shape {c.shape} for {n} tracks: give (N, 2, 2), (N, 3) or "
                                 f"(N,) m^2")
        ok = np.isfinite(xy).all(axis=1) & np.isfinite(cov).all(axis=(1, 2))
        gp = self.params.ground
        for i in np.flatnonzero(ok):
            t = tracks[int(i)]
            if t.ground is None:
                t.ground = GroundHistory(gp.sample_interval_s, gp.history_s)
            t.ground.add(ts, xy[i], cov[i])
            self._any_ground = True
            if t.row >= 0:
                self._rows.set_ground(t, gp.min_shared_s)

    def _touch(self, camera: str, local_id: int, ts: float, frame_index: int) -> CameraTrack:
        """Track (camera, local_id) was updated at camera time ``ts``: create it (pending) on first sight, else
        widen its time span (and its identity's and gallery row's)."""
        key = (camera, local_id)
        t = self.tracks.get(key)
        if t is None:
            t = CameraTrack(camera, local_id, ts, ts, frame_index, frame_index)
            self.tracks[key] = t
            self._pending.add(key)
        else:
            if ts > t.last_ts:
                t.last_ts, t.last_frame = ts, frame_index
            if ts < t.first_ts:
                t.first_ts, t.first_frame = ts, frame_index
            t.ended = False
        if t.gid is not None:
            ident = self.identities.get(t.gid)
            if ident is not None:
                ident.last_ts = max(ident.last_ts, t.last_ts)
                ident.first_ts = min(ident.first_ts, t.first_ts)
            if t.row >= 0:
                self._rows.set_span(t)
        return t

    def _add_embeddings(self, camera: str, tracks: list[CameraTrack], emb_index: np.ndarray, units: np.ndarray,
                        quality: np.ndarray | None) -> None:
        """Fold unit embeddings units (M, D) into tracks[emb_index] (M,), weighted by their quality (N,) (0 when
        None, floored at MIN_EMBEDDING_WEIGHT); then each such track's new mean votes in the camera normaliser."""
        q = np.zeros(len(tracks), np.float32) if quality is None else np.asarray(quality, np.float32)
        for j, row in enumerate(emb_index):
            t = tracks[int(row)]
            w = max(float(q[row]), MIN_EMBEDDING_WEIGHT)
            t.feat_sum = units[j] * w if t.feat_sum is None else t.feat_sum + units[j] * w
            t.invalidate()
            t.weight += w
            t.n_total += 1
            if q[row] >= self.params.min_embedding_quality:
                t.n_good += 1
            if t.row >= 0:
                self._rows.mark_dirty(t.row)
        for row in set(emb_index.tolist()):
            t = tracks[int(row)]
            f = t.feature()
            if f is not None:
                self.normalizer.vote(camera, t.key, f)

    # ------------------------------------------------------------------------------------------------ rows
    def _add_row(self, t: CameraTrack, ident: Identity) -> None:
        """Give track t (assigned to ``ident``) a row in the score matrices, in ``ident``'s column."""
        self._rows.add(t, self._camera_index(t.camera), ident.col, self.normalizer, self.params.ground.min_shared_s)

    # ------------------------------------------------------------------------------------------------ identities
    def _new_identity(self, t: CameraTrack) -> Identity:
        gid = int(self.allocate_gid())
        if gid in self.identities:
            raise RuntimeError(f"global id {gid} was allocated twice: the id counter was reset while the hub ran")
        col = self._free_cols.pop() if self._free_cols else len(self._col_gid)
        if col == len(self._col_gid):
            self._col_gid.append(gid)
        else:
            self._col_gid[col] = gid
        ident = Identity(gid, t.first_ts, t.last_ts, col)
        self.identities[gid] = ident
        return ident

    def _attach(self, t: CameraTrack, ident: Identity, now: float) -> None:
        t.gid = ident.gid
        t.assigned_ts = now
        t.n_good_checked = t.n_good
        ident.tracks[t.key] = t
        ident.first_ts = min(ident.first_ts, t.first_ts)
        ident.last_ts = max(ident.last_ts, t.last_ts)
        if t.row < 0:
            self._add_row(t, ident)
        else:
            self._rows.col[t.row] = ident.col
        self._pending.discard(t.key)
        if self.params.correction_window_s > 0:
            self._young.add(t.key)

    def _detach(self, t: CameraTrack) -> Identity | None:
        """Remove t from its identity; returns the identity if that is now empty (and drops it)."""
        ident = self.identities.get(t.gid) if t.gid is not None else None
        if ident is None:
            return None
        ident.tracks.pop(t.key, None)
        if ident.tracks:
            return None
        self._drop_identity(ident)
        return ident

    def _drop_identity(self, ident: Identity) -> None:
        for t in list(ident.tracks.values()):
            self._forget_track(t)
        self.identities.pop(ident.gid, None)
        if ident.col >= 0:
            self._free_cols.append(ident.col)
            ident.col = -1

    def _forget_track(self, t: CameraTrack) -> None:
        if t.row >= 0:
            self._rows.release(t.row)
            t.row = -1
        self.tracks.pop(t.key, None)
        self._pending.discard(t.key)
        self._young.discard(t.key)

    # ------------------------------------------------------------------------------------------------ scoring
    def _query_feature(self, t: CameraTrack) -> np.ndarray | None:
        f = t.feature()
        if f is None or not self._rows.dim:
            return None
        return self.normalizer.normalize(t.camera, f[None])[0]

    def _scores(self, tracks: list[CameraTrack]) -> _Scores:
        """Per query track and identity column: best similarity over the identity's prototypes (-inf: none or
        no feature), whether the identity conflicts with the track (simultaneous in one camera, too close in
        time in disjoint cameras, or -- with ground positions -- apart on the ground over a shared span or out of
        reach at walking speed) and the ground evidence. One matrix product for all queries. Returns (Q, ncols)
        arrays (see ``_Scores``); a query's own gallery row is left out."""
        r = self._rows
        q, ncols = len(tracks), len(self._col_gid)
        sim_col = np.full((q, ncols), -np.inf, np.float32)
        conflict_col = np.zeros((q, ncols), bool)
        ground_conflict_col = np.zeros((q, ncols), bool)
        sigmas_col = np.full((q, ncols), np.nan)
        rows = np.flatnonzero(r.used[: r.size])
        if not q or not len(rows) or not ncols:
            return _Scores(sim_col, conflict_col, ground_conflict_col, sigmas_col)
        order = np.argsort(r.col[rows], kind="stable")
        rows = rows[order]
        cols = r.col[rows]
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        present = cols[starts]
        first = np.array([t.first_ts for t in tracks])[:, None]
        last = np.array([t.last_ts for t in tracks])[:, None]
        cams = np.array([self._camera_index(t.camera) for t in tracks])
        gap = np.maximum(r.first[rows][None], first) - np.minimum(r.last[rows][None], last)
        conflict = gap < self._min_gap[cams][:, r.cam[rows]]
        own = np.array([t.row for t in tracks])[:, None] == rows[None]
        if self._any_ground and r.has_ground[rows].any():
            replaced, ground_conflict, ev_n, ev_sum = self._ground_terms(tracks, rows, cams, gap)
            ground_conflict &= ~own
            conflict = (np.where(replaced, False, conflict) | ground_conflict) & ~own
            ground_conflict_col[:, present] = np.logical_or.reduceat(ground_conflict, starts, axis=1)
            n_col = np.add.reduceat(ev_n, starts, axis=1)
            sum_col = np.add.reduceat(ev_sum, starts, axis=1)
            sigmas_col[:, present] = np.where(n_col > 0, sum_col / np.maximum(n_col, 1), np.nan)
            # a brief same-camera overlap (hand-over) is allowed where another camera vouches on the ground
            same_cam = cams[:, None] == r.cam[rows][None]
            handover = same_cam & (gap >= -self.params.ground.handover_s) & ~ground_conflict
            vouched = np.logical_or.reduceat(conflict & ~handover, starts, axis=1)
            conflict_col[:, present] = np.where(n_col > 0, vouched, np.logical_or.reduceat(conflict, starts, axis=1))
            return _Scores(self._similarities(tracks, rows, own, starts, present, sim_col), conflict_col,
                           ground_conflict_col, sigmas_col)
        conflict &= ~own
        conflict_col[:, present] = np.logical_or.reduceat(conflict, starts, axis=1)
        return _Scores(self._similarities(tracks, rows, own, starts, present, sim_col), conflict_col,
                       ground_conflict_col, sigmas_col)

    def _similarities(self, tracks: list[CameraTrack], rows: np.ndarray, own: np.ndarray, starts: np.ndarray,
                      present: np.ndarray, sim_col: np.ndarray) -> np.ndarray:
        """Fill sim_col (Q, ncols) with each query's best similarity over each identity's rows (grouped by
        ``starts``, columns ``present``), leaving out its own row; returns sim_col."""
        r = self._rows
        feats = [self._query_feature(t) for t in tracks]
        have = [i for i, f in enumerate(feats) if f is not None]
        if have and r.dim:
            f = np.stack([q for q in feats if q is not None])
            sims = f @ r.normed[rows].T
            sims[~r.has_feat[rows][None].repeat(len(have), 0)] = -np.inf
            sims[own[have]] = -np.inf
            sim_col[np.array(have)[:, None], present[None]] = np.maximum.reduceat(sims, starts, axis=1)
        return sim_col

    def _ground_terms(self, tracks: list[CameraTrack], rows: np.ndarray, cams: np.ndarray,
                      gap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Ground evidence of query tracks (Q) against gallery rows (R), all (Q, R): ``replaced`` (both have
        positions, different cameras, one after the other: walking speed replaces the transition time),
        ``conflict`` (out of reach at walking speed, or apart over a shared span), and the evidence of shared
        spans of at least ``min_shared_s``: samples ``n`` and ``n * sigmas``."""
        r, gp = self._rows, self.params.ground
        shape = (len(tracks), len(rows))
        replaced, conflict = np.zeros(shape, bool), np.zeros(shape, bool)
        ev_n, ev_sum = np.zeros(shape), np.zeros(shape)
        has = r.has_ground[rows]
        rcam = r.cam[rows]
        floor = gp.position_sigma_floor_m ** 2
        max_gap = _GROUND_MAX_GAP_INTERVALS * gp.sample_interval_s
        f_ts_r, l_ts_r = r.ground_first_ts[rows], r.ground_last_ts[rows]
        for i, t in enumerate(tracks):
            g = t.ground
            if g is None or not len(g):
                continue
            other_cam = has & (rcam != cams[i])
            replaced[i] = other_cam & (gap[i] >= 0)
            # one after the other by the samples' times; reachable from the robust end to the robust start
            before = has & (l_ts_r < g.ts[0])
            after = has & ~before & (f_ts_r > g.ts[-1])
            h_ts, h_xy, h_var = g.head(gp.min_shared_s)
            t_ts, t_xy, t_var = g.tail(gp.min_shared_s)
            d_before = np.hypot(*(h_xy[None] - r.tail_xy[rows]).T)
            d_after = np.hypot(*(t_xy[None] - r.head_xy[rows]).T)
            conflict[i] = (before & travel_infeasible(h_ts - r.tail_ts[rows], d_before, h_var + r.tail_var[rows]
                                                      + 2 * floor, gp.max_speed_mps, gp.travel_margin_sigmas)) | \
                          (after & travel_infeasible(r.head_ts[rows] - t_ts, d_after, t_var + r.head_var[rows]
                                                     + 2 * floor, gp.max_speed_mps, gp.travel_margin_sigmas))
            for k in np.flatnonzero(other_cam & ~before & ~after):
                other = r.owner.get(int(rows[k]))
                if other is None or other.ground is None:
                    continue
                span = shared_span(g, other.ground, floor, max_gap)
                if span.duration_s < gp.min_shared_s - _TIME_EPS_S:
                    continue
                if span.sigmas > gp.gate_sigmas:
                    conflict[i, k] = True
                else:
                    ev_n[i, k] = span.n
                    ev_sum[i, k] = span.n * span.sigmas
        return replaced, conflict, ev_n, ev_sum

    def _effective(self, sim: np.ndarray, ground_sigmas: np.ndarray) -> np.ndarray:
        """Similarity with the ground evidence folded in: ``appearance_weight * sim + weight * (1 - sigmas /
        gate_sigmas)`` where there is ground evidence (arrays of one shape). Without any, ``sim`` itself."""
        gp = self.params.ground
        app = sim
        if gp.appearance_weight != 1.0:
            have = np.isfinite(sim)
            app = np.where(have, gp.appearance_weight * np.where(have, sim, 0.0),
                           -np.inf if gp.appearance_weight > 0 else 0.0)
        evidence = np.isfinite(ground_sigmas)
        if not evidence.any():
            return app
        bonus = gp.weight * (1.0 - np.clip(np.where(evidence, ground_sigmas, 0.0) / gp.gate_sigmas, 0.0, 1.0))
        return np.where(evidence, app + bonus, app)

    # ------------------------------------------------------------------------------------------------ decisions
    def _ready(self, t: CameraTrack, force: bool) -> bool:
        """Decide now: forced, ended, old enough (max_defer_s) or gone quiet; else once it has min_embeddings
        good embeddings and, with ground positions, ``ground.min_shared_s`` of them (so that overlapping views
        can be compared on the ground before the first decision)."""
        if force or t.ended or (t.n_good >= self.params.min_embeddings and self._ground_ready(t)):
            return True
        clock = self.camera_clock.get(t.camera, t.last_ts)
        if clock - t.first_ts >= self.params.max_defer_s:
            return True
        return self.clock_s - t.last_ts >= self.params.track_timeout_s

    def _ground_ready(self, t: CameraTrack) -> bool:
        """No positions, or ``min_shared_s`` of them and one sample more (another camera's latest frame may not
        have arrived yet)."""
        g = t.ground
        return g is None or (len(g) - 1) * g.interval_s >= self.params.ground.min_shared_s - _TIME_EPS_S

    def decide(self, force: bool = False) -> list[IdentityEvent]:
        """Assign ready pending tracks and re-check young ones. ``force``: decide every pending track now."""
        events: list[IdentityEvent] = []
        ready = [self.tracks[k] for k in self._pending if self._ready(self.tracks[k], force)]
        if ready or self._young:
            self._rows.refresh(self.normalizer, list(self._cameras))
        if self.params.relink_max_gap_s > 0:
            relinked = self._relink_fragments(ready)
            events.extend(relinked)
            ready = [t for t in ready if t.gid is None]
        by_camera: dict[str, list[CameraTrack]] = {}
        for t in sorted(ready, key=lambda t: (t.first_ts, t.camera, t.local_id)):
            by_camera.setdefault(t.camera, []).append(t)
        for camera in sorted(by_camera, key=lambda c: (by_camera[c][0].first_ts, c)):
            for batch in _simultaneous_batches(by_camera[camera]):
                events.extend(self._assign_group(batch))
        events.extend(self._recheck_young())
        gp = self.params.ground
        if self._any_ground and gp.refine_interval_s > 0 and self.clock_s - self._last_refine >= gp.refine_interval_s:
            events.extend(self._refine())
        return events

    def _assign_group(self, group: list[CameraTrack]) -> list[IdentityEvent]:
        """Hungarian assignment of one camera's ready tracks to identities (or new ones)."""
        threshold = self.params.match_threshold
        sc = self._scores(group)
        app_all, conflict_all = sc.sim, sc.conflict
        sim_all = [self._effective(s, g) for s, g in zip(sc.sim, sc.ground_sigmas)]
        scores = list(zip(sim_all, conflict_all))
        feasible = [(~c) & (s >= threshold) for s, c in scores]
        candidates = np.flatnonzero(np.any(feasible, axis=0)) if scores and len(scores[0][0]) else \
            np.zeros((0,), np.int64)
        chosen: dict[int, int] = {}
        if len(candidates):
            cost = np.full((len(group), len(candidates)), _INFEASIBLE_COST, np.float64)
            for i, ((s, _), ok) in enumerate(zip(scores, feasible)):
                sel = ok[candidates]
                cost[i, sel] = 1.0 - s[candidates][sel]
            rows, cols = linear_sum_assignment(cost)
            chosen = {int(i): int(candidates[j]) for i, j in zip(rows, cols) if cost[i, j] < _INFEASIBLE_COST}
        events: list[IdentityEvent] = []
        for i, t in enumerate(group):
            now = self.camera_clock.get(t.camera, t.last_ts)
            j = chosen.get(i)
            sim = scores[i][0]
            feasible_sim = np.where(scores[i][1], -np.inf, sim)
            if j is not None:
                ident = self.identities[self._col_gid[j]]
                self._attach(t, ident, now)
                others = np.delete(feasible_sim, j)
                second = float(others.max()) if len(others) else -math.inf
                sig = float(sc.ground_sigmas[i, j])
                logger.debug("assigned %s/%d (%.1f-%.1f s) -> %d: sim %.3f (appearance %.3f), runner-up %.3f",
                             t.camera, t.local_id, t.first_ts, t.last_ts, ident.gid, float(sim[j]),
                             float(app_all[i, j]), second)
                events.append(IdentityEvent("assigned", t.camera, t.local_id, ident.gid, now,
                                            similarity=float(app_all[i, j]),
                                            runner_up=second if math.isfinite(second) else None,
                                            ground_sigmas=sig if math.isfinite(sig) else None))
            else:
                best = float(app_all[i].max()) if len(sim) else -math.inf
                ident = self._new_identity(t)
                self._attach(t, ident, now)
                logger.debug("new identity %d for %s/%d (%.1f-%.1f s): best sim %.3f (feasible %.3f), threshold %.3f",
                             ident.gid, t.camera, t.local_id, t.first_ts, t.last_ts,
                             float(sim.max()) if len(sim) else -math.inf,
                             float(feasible_sim.max()) if len(sim) else -math.inf, threshold)
                events.append(IdentityEvent("new_identity", t.camera, t.local_id, ident.gid, now,
                                            similarity=best if math.isfinite(best) else None))
        return events

    def _relink_fragments(self, ready: list[CameraTrack]) -> list[IdentityEvent]:
        """Same-camera fragments: a ready track that starts at most ``relink_max_gap_s`` after one assigned track
        of its camera ended, within ``relink_max_distance`` box heights of where it ended (the camera tracker lost
        the person and started a new track), joins that track's identity -- when that is the only such track,
        the identity is feasible (no simultaneous track of it in the camera, no ground conflict) and appearance
        ranks it first among the feasible identities (whatever the similarity's scale: the time and place are the
        evidence, appearance only must not point elsewhere). Anything ambiguous is left to the appearance match.
        Returns the ``assigned`` events."""
        p = self.params
        queries: list[tuple[CameraTrack, CameraTrack]] = []
        for t in sorted(ready, key=lambda u: (u.first_ts, u.camera, u.local_id)):
            if t.first_box is None or t.feature() is None:
                continue
            t_h = t.first_box[3] - t.first_box[1]
            found = [u for u in self.tracks.values()
                     if u.camera == t.camera and u.gid is not None and u.last_box is not None
                     and 0.0 < t.first_ts - u.last_ts <= p.relink_max_gap_s
                     and _box_distance(u.last_box, t.first_box) <= p.relink_max_distance * 0.5 * (
                         t_h + u.last_box[3] - u.last_box[1])]
            if len({u.gid for u in found}) == 1:
                queries.append((t, max(found, key=lambda u: u.last_ts)))
        if not queries:
            return []
        sc = self._scores([t for t, _ in queries])
        events: list[IdentityEvent] = []
        claimed: set[int] = set()  # one fragment per identity and step: two new tracks at once are two people
        for i, (t, u) in enumerate(queries):
            ident = self.identities.get(u.gid) if u.gid is not None else None
            if ident is None or ident.gid in claimed or ident.col >= sc.sim.shape[1] or sc.conflict[i, ident.col]:
                continue
            sim = np.where(sc.conflict[i], -np.inf, self._effective(sc.sim[i], sc.ground_sigmas[i]))
            if not math.isfinite(sim[ident.col]) or int(np.argmax(sim)) != ident.col:
                continue
            now = self.camera_clock.get(t.camera, t.last_ts)
            self._attach(t, ident, now)
            claimed.add(ident.gid)
            others = np.delete(sim, ident.col)
            second = float(others.max()) if len(others) else -math.inf
            logger.debug("re-linked %s/%d to %d: continues %s/%d (gap %.2f s)", t.camera, t.local_id, ident.gid,
                         u.camera, u.local_id, t.first_ts - u.last_ts)
            events.append(IdentityEvent("assigned", t.camera, t.local_id, ident.gid, now,
                                        similarity=float(sc.sim[i, ident.col]),
                                        runner_up=second if math.isfinite(second) else None))
        return events

    def _recheck_young(self) -> list[IdentityEvent]:
        events: list[IdentityEvent] = []
        threshold, margin = self.params.match_threshold, self.params.correction_margin
        due: list[CameraTrack] = []
        for key in sorted(self._young):
            t = self.tracks.get(key)
            if t is None or t.gid is None:
                self._young.discard(key)
                continue
            now = self.camera_clock.get(t.camera, t.last_ts)
            if t.assigned_ts is None or now - t.assigned_ts > self.params.correction_window_s:
                self._young.discard(key)
                continue
            grew = t.ground is not None and t.ground.added > t.n_ground_checked
            if (t.n_good > t.n_good_checked or grew) and t.feature() is not None:
                t.n_good_checked = t.n_good
                t.n_ground_checked = t.ground.added if t.ground is not None else 0
                due.append(t)
        sc = self._scores(due)
        col_gid = list(self._col_gid)  # columns as scored (corrections below may retire identities)
        for i, t in enumerate(due):
            app, conflict = sc.sim[i], sc.conflict[i]
            sim = self._effective(app, sc.ground_sigmas[i])
            key = t.key
            now = self.camera_clock.get(t.camera, t.last_ts)
            current = self.identities.get(t.gid) if t.gid is not None else None
            if current is None or current.col >= len(sim) or col_gid[current.col] != current.gid:
                continue
            # apart on the ground from its own identity's other tracks: it no longer fits there at all
            cur_sim = -math.inf if sc.ground_conflict[i, current.col] else float(sim[current.col])
            alone = len(current.tracks) == 1
            sim_other = sim.copy()
            sim_other[current.col] = -np.inf
            sim_other[conflict] = -np.inf
            j = int(np.argmax(sim_other)) if len(sim_other) else -1
            best = float(sim_other[j]) if j >= 0 else -math.inf
            target: Identity | None = None
            if best >= threshold and (alone or best >= cur_sim + margin):
                target = self.identities.get(col_gid[j])
                if target is None or target.col != j:
                    continue  # retired by a correction earlier in this step
            elif not alone and cur_sim < threshold - margin:
                target = None  # no longer fits its identity nor any other: a new one
            else:
                continue
            sig = float(sc.ground_sigmas[i, j]) if target is not None else math.nan
            previous = current.gid
            events += self._move(t, target, now, "young", float(app[j]) if math.isfinite(best) else None,
                                 sig if math.isfinite(sig) else None)
            logger.debug("corrected %s/%d: %d -> %s (sim %.3f vs %.3f)", t.camera, t.local_id, previous, t.gid,
                         best, cur_sim)
        return events

    def _move(self, t: CameraTrack, target: Identity | None, now: float, cause: CorrectionCause,
              similarity: float | None, ground_sigmas: float | None) -> list[IdentityEvent]:
        """Move assigned track t to ``target`` (None: a new identity): ``corrected``, and ``retired`` when its
        old identity is left empty. The track is not re-checked afterwards (one correction per track)."""
        previous = t.gid
        if previous is None:
            raise RuntimeError(f"track {t.camera}/{t.local_id} has no identity to move from")
        emptied = self._detach(t)
        if target is None:
            target = self._new_identity(t)
        self._attach(t, target, now)
        self._young.discard(t.key)  # one correction per track: no flapping
        events = [IdentityEvent("corrected", t.camera, t.local_id, target.gid, now, previous_gid=previous,
                                similarity=similarity, cause=cause, ground_sigmas=ground_sigmas)]
        if emptied is not None:
            events.append(IdentityEvent("retired", t.camera, t.local_id, previous, now, previous_gid=target.gid))
        return events

    # ------------------------------------------------------------------------------------------------ refinement
    def _refine(self) -> list[IdentityEvent]:
        """Split identities whose tracks disagree on the ground, then merge identities whose tracks agree on it
        over ``refine_span_s`` (see the module docstring). Tracks considered: assigned, with a ground sample
        within ``history_s``."""
        gp = self.params.ground
        clock = self.clock_s
        self._last_refine = clock
        active = [t for t in self.tracks.values() if t.gid is not None and t.ground is not None and len(t.ground)
                  and t.ground.last()[0] >= clock - gp.history_s]
        if len(active) < 2:
            return []
        self._rows.refresh(self.normalizer, list(self._cameras))
        events = self._split(active)
        events += self._merge(active)
        return events

    def _ground_contradiction(self, a: CameraTrack, b: CameraTrack, min_span_s: float) -> bool:
        """Two tracks with ground histories cannot be one person: apart (median beyond ``gate_sigmas``) over
        their whole shared time, at least ``min_span_s`` of it (different cameras), or out of reach at walking
        speed one after the other. The whole span, so that a track that followed the identity's person for most
        of it and another person after a switch of the camera tracker stays where most of it belongs."""
        gp = self.params.ground
        ga, gb = a.ground, b.ground
        if ga is None or gb is None or not len(ga) or not len(gb):
            return False
        floor = gp.position_sigma_floor_m ** 2
        w = gp.min_shared_s
        for earlier, later in ((ga, gb), (gb, ga)):
            if earlier.ts[-1] < later.ts[0]:  # one after the other
                t0, xy0, v0 = earlier.tail(w)
                t1, xy1, v1 = later.head(w)
                return bool(travel_infeasible(np.float64(t1 - t0), np.float64(np.hypot(*(xy1 - xy0))),
                                              np.float64(v0 + v1 + 2 * floor), gp.max_speed_mps,
                                              gp.travel_margin_sigmas))
        if a.camera == b.camera:
            return False
        span = shared_span(ga, gb, floor, _GROUND_MAX_GAP_INTERVALS * gp.sample_interval_s)
        return span.duration_s >= min_span_s - _TIME_EPS_S and span.sigmas > gp.gate_sigmas

    def _split(self, active: list[CameraTrack]) -> list[IdentityEvent]:
        """An identity two of whose tracks contradict each other on the ground holds two people. The track with
        most contradictions leaves, then the later assigned (it joined on less evidence; appearance is no guide:
        a track fits the identity's other tracks of its own camera better than those of other cameras); it is
        re-assigned as a pending track would be, or founds a new identity. One split per identity and round."""
        by_gid: dict[int, list[CameraTrack]] = {}
        for t in active:
            if t.gid is not None:  # active tracks are assigned (see _refine)
                by_gid.setdefault(t.gid, []).append(t)
        events: list[IdentityEvent] = []
        span_s = self.params.ground.refine_span_s
        for gid in sorted(by_gid):
            members = sorted(by_gid[gid], key=lambda u: u.key)
            if len(members) < 2:
                continue
            bad: dict[TrackKey, int] = {}
            for a_i, a in enumerate(members):
                for b in members[a_i + 1:]:
                    if self._ground_contradiction(a, b, span_s):
                        bad[a.key] = bad.get(a.key, 0) + 1
                        bad[b.key] = bad.get(b.key, 0) + 1
            if not bad:
                continue
            t = max((u for u in members if u.key in bad),
                    key=lambda u: (bad[u.key], u.assigned_ts or -math.inf, u.first_ts, u.key))
            events += self._reassign(t, "split")
        return events

    def _reassign(self, t: CameraTrack, cause: CorrectionCause) -> list[IdentityEvent]:
        """Score assigned track t against every identity (its own is infeasible through the contradiction) and
        move it to the best feasible one at or above match_threshold, else to a new identity."""
        sc = self._scores([t])
        sim = self._effective(sc.sim[0], sc.ground_sigmas[0])
        sim = np.where(sc.conflict[0], -np.inf, sim)
        cur = self.identities.get(t.gid) if t.gid is not None else None
        if cur is not None and 0 <= cur.col < len(sim):
            sim[cur.col] = -np.inf
        j = int(np.argmax(sim)) if len(sim) else -1
        target: Identity | None = None
        similarity: float | None = None
        ground: float | None = None
        if j >= 0 and sim[j] >= self.params.match_threshold:
            target = self.identities.get(self._col_gid[j])
            similarity = float(sc.sim[0, j]) if math.isfinite(sc.sim[0, j]) else None
            sig = float(sc.ground_sigmas[0, j])
            ground = sig if math.isfinite(sig) else None
        now = self.camera_clock.get(t.camera, t.last_ts)
        logger.debug("%s: %s/%d leaves %s for %s", cause, t.camera, t.local_id, t.gid,
                     target.gid if target is not None else "a new identity")
        return self._move(t, target, now, cause, similarity, ground)

    def _merge(self, active: list[CameraTrack]) -> list[IdentityEvent]:
        """Two identities with tracks in different cameras that agree on the ground (mean within
        ``merge_max_sigmas``) over at least ``refine_span_s`` are one person, unless any of their tracks
        conflict (topology, ground) or their best appearance similarity is below ``merge_min_similarity``: the
        younger identity's tracks move to the older one, which it retires into."""
        gp = self.params.ground
        floor = gp.position_sigma_floor_m ** 2
        max_gap = _GROUND_MAX_GAP_INTERVALS * gp.sample_interval_s
        candidates: dict[tuple[int, int], float] = {}
        placed = [(t.gid, t.camera, t.ground) for t in active if t.gid is not None and t.ground is not None]
        for a_i, (gid_a, cam_a, ga) in enumerate(placed):
            for gid_b, cam_b, gb in placed[a_i + 1:]:
                if gid_a == gid_b or cam_a == cam_b or ga.ts[-1] < gb.ts[0] or gb.ts[-1] < ga.ts[0]:
                    continue
                span = shared_span(ga, gb, floor, max_gap)
                if span.duration_s >= gp.refine_span_s - _TIME_EPS_S and span.sigmas <= gp.merge_max_sigmas:
                    pair = (min(gid_a, gid_b), max(gid_a, gid_b))
                    candidates[pair] = min(candidates.get(pair, math.inf), span.sigmas)
        events: list[IdentityEvent] = []
        merged: set[int] = set()
        for (g1, g2), sigmas in sorted(candidates.items(), key=lambda kv: (kv[1], kv[0])):
            if g1 in merged or g2 in merged:
                continue
            i1, i2 = self.identities.get(g1), self.identities.get(g2)
            if i1 is None or i2 is None or not self._mergeable(i1, i2):
                continue
            keep, gone = (i1, i2) if (i1.first_ts, i1.gid) <= (i2.first_ts, i2.gid) else (i2, i1)
            merged.update((g1, g2))
            similarity = self._best_similarity(keep, gone)
            logger.debug("merge: identity %d into %d (ground %.2f sigmas)", gone.gid, keep.gid, sigmas)
            for t in sorted(gone.tracks.values(), key=lambda u: u.key):
                now = self.camera_clock.get(t.camera, t.last_ts)
                events += self._move(t, keep, now, "merge", similarity, sigmas)
        return events

    def _best_similarity(self, a: Identity, b: Identity) -> float | None:
        """Best cosine similarity between the (normalised) prototypes of two identities, None when one has none."""
        r = self._rows
        ra = [t.row for t in a.tracks.values() if t.row >= 0 and r.has_feat[t.row]]
        rb = [t.row for t in b.tracks.values() if t.row >= 0 and r.has_feat[t.row]]
        if not ra or not rb or not r.dim:
            return None
        return float((r.normed[ra] @ r.normed[rb].T).max())

    def _mergeable(self, a: Identity, b: Identity) -> bool:
        """No track of ``a`` conflicts with one of ``b`` (topology, or ground where both have positions) and
        their appearance does not contradict."""
        for u in a.tracks.values():
            for v in b.tracks.values():
                gap = max(u.first_ts, v.first_ts) - min(u.last_ts, v.last_ts)
                both_ground = u.ground is not None and v.ground is not None and len(u.ground) and len(v.ground)
                replaced = both_ground and u.camera != v.camera and gap >= 0
                handover = both_ground and u.camera == v.camera and gap >= -self.params.ground.handover_s
                if not replaced and not handover and gap < self.topology.min_gap_s(u.camera, v.camera):
                    return False
                if both_ground and self._ground_contradiction(u, v, self.params.ground.min_shared_s):
                    return False
        sim = self._best_similarity(a, b)
        return sim is None or sim >= self.params.ground.merge_min_similarity

    # ------------------------------------------------------------------------------------------------ lifecycle
    def end_stale_tracks(self, force: bool = False) -> list[CameraTrack]:
        """Mark tracks not updated for track_timeout_s (camera time) as ended and bound each identity's closed
        tracks per camera to prototypes_per_camera. Call after :meth:`decide` (ended pending tracks are decided
        there). Scans at most every HOUSEKEEPING_INTERVAL_S of camera time unless ``force``. Returns the tracks
        that ended now."""
        ended: list[CameraTrack] = []
        timeout = self.params.track_timeout_s
        clock = self.clock_s
        if not force and clock - self._last_housekeeping < HOUSEKEEPING_INTERVAL_S:
            return ended
        self._last_housekeeping = clock
        for t in list(self.tracks.values()):
            if t.ended:
                continue
            if clock - t.last_ts >= timeout and t.gid is not None:
                t.ended = True
                ended.append(t)
        for t in ended:
            self._young.discard(t.key)
            ident = self.identities.get(t.gid) if t.gid is not None else None
            if ident is None:
                continue
            closed = sorted((u for u in ident.tracks.values() if u.ended and u.camera == t.camera),
                            key=lambda u: u.last_ts)
            for old in closed[: max(0, len(closed) - self.params.prototypes_per_camera)]:
                ident.tracks.pop(old.key, None)
                self._forget_track(old)
        return ended

    def evict(self) -> list[int]:
        """Drop identities unseen for gallery_retention_s, then the least recently seen beyond max_identities
        (identities with an open track are kept). Returns the evicted global ids."""
        clock = self.clock_s
        if not math.isfinite(clock):
            return []
        evicted = [i for i in self.identities.values() if clock - i.last_ts > self.params.gallery_retention_s
                   and all(t.ended for t in i.tracks.values())]
        excess = len(self.identities) - len(evicted) - self.params.max_identities
        if excess > 0:
            chosen = {i.gid for i in evicted}
            rest = sorted((i for i in self.identities.values() if i.gid not in chosen
                           and all(t.ended for t in i.tracks.values())), key=lambda i: i.last_ts)
            evicted.extend(rest[:excess])
        for ident in evicted:
            self._drop_identity(ident)
        return [i.gid for i in evicted]

    # ------------------------------------------------------------------------------------------------ restore
    def restore_track(self, t: CameraTrack) -> None:
        """Re-insert a persisted track (hub restart). Assigned tracks rejoin their identity's gallery."""
        if t.feat_sum is not None:
            self.check_dim(len(t.feat_sum))
            if not self._rows.dim:
                self._rows.set_dim(len(t.feat_sum))
        self._camera_index(t.camera)
        t.row = -1
        self.tracks[t.key] = t
        f = t.feature()
        if f is not None:
            self.normalizer.vote(t.camera, t.key, f)
        self.camera_clock[t.camera] = max(self.camera_clock.get(t.camera, -math.inf), t.last_ts)
        if t.gid is None:
            self._pending.add(t.key)
            return
        ident = self.identities.get(t.gid)
        if ident is None:
            col = self._free_cols.pop() if self._free_cols else len(self._col_gid)
            if col == len(self._col_gid):
                self._col_gid.append(t.gid)
            else:
                self._col_gid[col] = t.gid
            ident = Identity(t.gid, t.first_ts, t.last_ts, col)
            self.identities[t.gid] = ident
        ident.tracks[t.key] = t
        ident.first_ts, ident.last_ts = min(ident.first_ts, t.first_ts), max(ident.last_ts, t.last_ts)
        self._add_row(t, ident)
        if (not t.ended and t.assigned_ts is not None
                and self.camera_clock[t.camera] - t.assigned_ts <= self.params.correction_window_s):
            self._young.add(t.key)

