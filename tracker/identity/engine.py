"""Cross-camera identity assignment: the pure core of the hub (no Redis, no OpenCV).

Each confirmed local track (camera, local id) gets a global id. The hub feeds :meth:`IdentityEngine.observe` with
frame updates and calls :meth:`IdentityEngine.decide`, which

* defers a track until it has ``min_embeddings`` good embeddings (or is ``max_defer_s`` old, or ended);
* compares its mean embedding, after per-camera normalisation (:class:`CameraNormalizer`), with the gallery: the
  mean embeddings of each identity's recent tracks (at most ``prototypes_per_camera`` closed ones per camera);
* forbids what cannot happen (:class:`Topology`): one identity in two simultaneous tracks of one camera, or in two
  disjoint cameras closer in time than their transition time;
* assigns the ready tracks of one camera jointly with the Hungarian algorithm (two tracks seen together in one
  camera are two people), cameras one after the other so that a person entering two overlapping cameras at once
  gets one id; a track that fits no identity (similarity below ``match_threshold``) gets a new global id;
* re-checks young assignments for ``correction_window_s`` as embeddings arrive and moves a track when another
  identity fits clearly better (``correction_margin``); an identity left without tracks is retired.

Similarities are cosine similarities of L2-normalised vectors. Times are the cameras' timestamps in seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.identity.gallery import Gallery
from tracker.identity.normalizer import CameraNormalizer
from tracker.identity.params import IdentityParams
from tracker.identity.records import CameraTrack, Identity, IdentityEvent, TrackKey
from tracker.identity.topology import Topology
from tracker.identity.vectors import l2_normalize

__all__ = ["IdentityEngine", "MIN_EMBEDDING_WEIGHT", "HOUSEKEEPING_INTERVAL_S"]

logger = logging.getLogger(__name__)

# Weight of an embedding is its quality, floored so that quality-0 embeddings still count when nothing else does.
MIN_EMBEDDING_WEIGHT = 1e-3
_INFEASIBLE_COST = 1e6
# Ending stale tracks and evicting identities scan everything: at most once per this much camera time.
HOUSEKEEPING_INTERVAL_S = 0.25


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
                quality: np.ndarray | None = None) -> list[CameraTrack]:
        """Apply one camera frame: N track updates, M of which carry an embedding.

        Args:
            local_ids: (N,) local track ids updated in this frame.
            emb_index: (M,) rows of local_ids that carry an embedding; embeddings: (M, D) float32 (any norm).
            quality: (N,) embedding quality in [0, 1] (weights the embedding; see min_embedding_quality).
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
        return out

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
    def _add_row(self, t: CameraTrack) -> None:
        self._rows.add(t, self._camera_index(t.camera), self.identities[t.gid].col,  # type: ignore[index]
                       self.normalizer)

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
            self._add_row(t)
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

    def _scores(self, tracks: list[CameraTrack]) -> tuple[np.ndarray, np.ndarray]:
        """Per query track and identity column: best similarity over the identity's prototypes (-inf: none or
        no feature) and whether the identity conflicts with the track (simultaneous in one camera, too close in
        time in disjoint cameras). One matrix product for all queries. Returns (Q, ncols) float32, (Q, ncols)
        bool; a query's own gallery row is left out."""
        r = self._rows
        q, ncols = len(tracks), len(self._col_gid)
        sim_col = np.full((q, ncols), -np.inf, np.float32)
        conflict_col = np.zeros((q, ncols), bool)
        rows = np.flatnonzero(r.used[: r.size])
        if not q or not len(rows) or not ncols:
            return sim_col, conflict_col
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
        conflict &= ~own
        conflict_col[:, present] = np.logical_or.reduceat(conflict, starts, axis=1)
        feats = [self._query_feature(t) for t in tracks]
        have = [i for i, f in enumerate(feats) if f is not None]
        if have and r.dim:
            f = np.stack([q for q in feats if q is not None])
            sims = f @ r.normed[rows].T
            sims[~r.has_feat[rows][None].repeat(len(have), 0)] = -np.inf
            sims[own[have]] = -np.inf
            sim_col[np.array(have)[:, None], present[None]] = np.maximum.reduceat(sims, starts, axis=1)
        return sim_col, conflict_col

    # ------------------------------------------------------------------------------------------------ decisions
    def _ready(self, t: CameraTrack, force: bool) -> bool:
        if force or t.ended or t.n_good >= self.params.min_embeddings:
            return True
        clock = self.camera_clock.get(t.camera, t.last_ts)
        if clock - t.first_ts >= self.params.max_defer_s:
            return True
        return self.clock_s - t.last_ts >= self.params.track_timeout_s

    def decide(self, force: bool = False) -> list[IdentityEvent]:
        """Assign ready pending tracks and re-check young ones. ``force``: decide every pending track now."""
        events: list[IdentityEvent] = []
        ready = [self.tracks[k] for k in self._pending if self._ready(self.tracks[k], force)]
        if ready or self._young:
            self._rows.refresh(self.normalizer, list(self._cameras))
        by_camera: dict[str, list[CameraTrack]] = {}
        for t in sorted(ready, key=lambda t: (t.first_ts, t.camera, t.local_id)):
            by_camera.setdefault(t.camera, []).append(t)
        for camera in sorted(by_camera, key=lambda c: (by_camera[c][0].first_ts, c)):
            for batch in _simultaneous_batches(by_camera[camera]):
                events.extend(self._assign_group(batch))
        events.extend(self._recheck_young())
        return events

    def _assign_group(self, group: list[CameraTrack]) -> list[IdentityEvent]:
        """Hungarian assignment of one camera's ready tracks to identities (or new ones)."""
        threshold = self.params.match_threshold
        sim_all, conflict_all = self._scores(group)
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
                events.append(IdentityEvent("assigned", t.camera, t.local_id, ident.gid, now,
                                            similarity=float(sim[j]),
                                            runner_up=second if math.isfinite(second) else None))
            else:
                best = float(sim.max()) if len(sim) else -math.inf
                ident = self._new_identity(t)
                self._attach(t, ident, now)
                events.append(IdentityEvent("new_identity", t.camera, t.local_id, ident.gid, now,
                                            similarity=best if math.isfinite(best) else None))
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
            if t.n_good > t.n_good_checked and t.feature() is not None:
                t.n_good_checked = t.n_good
                due.append(t)
        sim_all, conflict_all = self._scores(due)
        col_gid = list(self._col_gid)  # columns as scored (corrections below may retire identities)
        for t, sim, conflict in zip(due, sim_all, conflict_all):
            key = t.key
            now = self.camera_clock.get(t.camera, t.last_ts)
            current = self.identities.get(t.gid)  # type: ignore[arg-type]
            if current is None or current.col >= len(sim) or col_gid[current.col] != current.gid:
                continue
            cur_sim = float(sim[current.col])
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
            previous = current.gid
            emptied = self._detach(t)
            if target is None:
                target = self._new_identity(t)
            self._attach(t, target, now)
            self._young.discard(key)  # one correction per track: no flapping
            events.append(IdentityEvent("corrected", t.camera, t.local_id, target.gid, now, previous_gid=previous,
                                        similarity=best if math.isfinite(best) else None))
            if emptied is not None:
                events.append(IdentityEvent("retired", t.camera, t.local_id, previous, now,
                                            previous_gid=target.gid))
            logger.debug("corrected %s/%d: %d -> %d (sim %.3f vs %.3f)", t.camera, t.local_id, previous,
                         target.gid, best, cur_sim)
        return events

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
            ident = self.identities.get(t.gid)  # type: ignore[arg-type]
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
        self._add_row(t)
        if (not t.ended and t.assigned_ts is not None
                and self.camera_clock[t.camera] - t.assigned_ts <= self.params.correction_window_s):
            self._young.add(t.key)

