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

import collections
import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.config.schema import ConfigError, HubConfig

__all__ = [
    "Topology",
    "CameraNormalizer",
    "CameraTrack",
    "Identity",
    "IdentityEvent",
    "IdentityEngine",
    "l2_normalize",
]

logger = logging.getLogger(__name__)

TrackKey = tuple[str, int]
EventKind = Literal["new_identity", "assigned", "corrected", "retired"]

# Two tracks of one camera whose time spans are closer than this are simultaneous (same frame counts as overlap).
SAME_CAMERA_MIN_GAP_S = 1e-6
# Weight of an embedding is its quality, floored so that quality-0 embeddings still count when nothing else does.
MIN_EMBEDDING_WEIGHT = 1e-3
_NORM_EPS = 1e-12
_INFEASIBLE_COST = 1e6
# Gallery rows are re-normalised when their camera's offset moved by more than this (unit-length features).
OFFSET_REFRESH_TOLERANCE = 0.01
# Ending stale tracks and evicting identities scan everything: at most once per this much camera time.
HOUSEKEEPING_INTERVAL_S = 0.25
_INITIAL_ROWS = 256


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit length; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norms > _NORM_EPS, x / np.maximum(norms, _NORM_EPS), 0.0).astype(np.float32)


class Topology:
    """Which cameras may see one person at the same time, and least transition times between the others.

    ``min_gap_s(a, b)``: two tracks of one identity in cameras a and b must be at least this far apart in time
    (gap = later start - earlier end; negative when the spans overlap). ``-inf`` for cameras that may overlap,
    :data:`SAME_CAMERA_MIN_GAP_S` within one camera.
    """

    def __init__(self, default_relation: Literal["may_overlap", "disjoint"] = "may_overlap",
                 default_min_transition_s: float = 0.0,
                 links: Iterable[tuple[str, str, bool, float]] = ()) -> None:
        if default_relation not in ("may_overlap", "disjoint"):
            raise ConfigError(f"hub.default_camera_relation = {default_relation!r}: use may_overlap or disjoint")
        self.default_relation = default_relation
        self.default_min_transition_s = float(default_min_transition_s)
        self._pairs: dict[frozenset[str], float] = {}
        for i, (a, b, overlap, transition_s) in enumerate(links):
            if not a or not b or a == b:
                raise ConfigError(f"hub.camera_links[{i}]: camera_a and camera_b must be two different camera "
                                  f"names, got {a!r} and {b!r}")
            pair = frozenset((a, b))
            if pair in self._pairs:
                raise ConfigError(f"hub.camera_links[{i}]: the pair {a}/{b} is listed twice")
            self._pairs[pair] = -math.inf if overlap else max(float(transition_s), SAME_CAMERA_MIN_GAP_S)

    @classmethod
    def from_config(cls, cfg: HubConfig) -> "Topology":
        return cls(cfg.default_camera_relation, cfg.default_min_transition_s,
                   [(link.camera_a, link.camera_b, link.overlap, link.min_transition_s or
                     (0.0 if link.overlap else cfg.default_min_transition_s)) for link in cfg.camera_links])

    def min_gap_s(self, camera_a: str, camera_b: str) -> float:
        if camera_a == camera_b:
            return SAME_CAMERA_MIN_GAP_S
        known = self._pairs.get(frozenset((camera_a, camera_b)))
        if known is not None:
            return known
        if self.default_relation == "may_overlap":
            return -math.inf
        return max(self.default_min_transition_s, SAME_CAMERA_MIN_GAP_S)


class CameraNormalizer:
    """Per-camera mean of recent track embeddings, subtracted before cosine similarity.

    Each track has one vote (its current mean embedding), so a person standing still for minutes does not become
    the camera's mean; a camera's mean is over its ``window_tracks`` most recent tracks. With few tracks the mean
    is mostly that of the few people seen, and subtracting it would erase them: the camera mean is therefore
    shrunk towards the all-camera mean, ``(n * m_c + k * m_all) / (n + k)`` for n tracks of the camera, and the
    subtraction scaled by ``N / (N + k)`` for N tracks of all cameras (k = ``prior_tracks``). Mode ``"none"``
    subtracts nothing.
    """

    def __init__(self, mode: Literal["none", "mean"] = "mean", prior_tracks: int = 5,
                 window_tracks: int = 200) -> None:
        if mode not in ("none", "mean"):
            raise ConfigError(f"hub.camera_normalization = {mode!r}: use none or mean")
        self.mode = mode
        self.prior_tracks = int(prior_tracks)
        self.window_tracks = int(window_tracks)
        self._votes: dict[str, collections.OrderedDict[object, np.ndarray]] = {}
        self._sum: dict[str, np.ndarray] = {}
        self._global_sum: np.ndarray | None = None
        self._global_count = 0
        self.version = 0
        self._offsets: dict[str, np.ndarray | None] = {}

    def vote(self, camera: str, key: object, feature: np.ndarray) -> None:
        """Set track ``key``'s vote in ``camera`` to its unit mean embedding (D,) (replacing an earlier vote)."""
        if self.mode == "none":
            return
        f = np.asarray(feature, dtype=np.float64)
        votes = self._votes.setdefault(camera, collections.OrderedDict())
        total = self._sum.get(camera)
        if total is None:
            total = self._sum[camera] = np.zeros_like(f)
        if self._global_sum is None:
            self._global_sum = np.zeros_like(f)
        old = votes.pop(key, None)
        if old is not None:
            total -= old
            self._global_sum -= old
            self._global_count -= 1
        votes[key] = f
        total += f
        self._global_sum += f
        self._global_count += 1
        while len(votes) > self.window_tracks:
            _, dropped = votes.popitem(last=False)
            total -= dropped
            self._global_sum -= dropped
            self._global_count -= 1
        self.version += 1
        self._offsets.clear()

    def offset(self, camera: str) -> np.ndarray | None:
        """(D,) float32 vector subtracted from the camera's embeddings, or None (nothing to subtract)."""
        if camera in self._offsets:
            return self._offsets[camera]
        result: np.ndarray | None = None
        if self.mode == "mean" and self._global_sum is not None and self._global_count > 0:
            k = float(self.prior_tracks)
            g = self._global_sum / self._global_count
            n_c = float(len(self._votes.get(camera, ())))
            sum_c = self._sum.get(camera, np.zeros_like(g))
            blended = (sum_c + k * g) / (n_c + k)
            shrink = self._global_count / (self._global_count + k)
            result = (shrink * blended).astype(np.float32)
        self._offsets[camera] = result
        return result

    def normalize(self, camera: str, x: np.ndarray) -> np.ndarray:
        """(N, D) raw unit embeddings of ``camera`` -> (N, D) normalised ones (zero rows stay zero)."""
        x = np.asarray(x, dtype=np.float32)
        off = self.offset(camera)
        if off is None or x.shape[-1] != off.shape[0]:
            return l2_normalize(x)
        zero = np.linalg.norm(x, axis=-1) <= _NORM_EPS
        out = l2_normalize(x - off)
        out[zero] = 0.0
        return out


@dataclass(eq=False)
class CameraTrack:
    """What the hub knows about one camera's local track (the per-camera tracker's own is ``core.track.Track``).

    Attributes:
        feat_sum: (D,) float32 quality-weighted sum of the track's unit embeddings (None before the first one).
        weight: sum of the weights in feat_sum.
        n_good: embeddings with quality >= min_embedding_quality; n_total: all embeddings.
        gid: global id, None while the decision is deferred.
        assigned_ts: camera time of the (last) assignment; n_good_checked: n_good at the last (re)check.
        ended: not updated for track_timeout_s.
    """

    camera: str
    local_id: int
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    feat_sum: np.ndarray | None = None
    weight: float = 0.0
    n_good: int = 0
    n_total: int = 0
    gid: int | None = None
    assigned_ts: float | None = None
    n_good_checked: int = 0
    ended: bool = False
    row: int = -1
    _unit: np.ndarray | None = field(default=None, repr=False)

    @property
    def key(self) -> TrackKey:
        return (self.camera, self.local_id)

    def feature(self) -> np.ndarray | None:
        """(D,) unit mean embedding (raw, before camera normalisation) or None. Cached until feat_sum changes
        (call :meth:`invalidate` after changing it)."""
        if self._unit is None:
            if self.feat_sum is None or self.weight <= 0:
                return None
            norm = float(np.sqrt(np.dot(self.feat_sum, self.feat_sum)))
            self._unit = (self.feat_sum / norm).astype(np.float32) if norm > _NORM_EPS else \
                np.zeros_like(self.feat_sum, dtype=np.float32)
        return self._unit

    def invalidate(self) -> None:
        self._unit = None


@dataclass(eq=False)
class Identity:
    gid: int
    first_ts: float
    last_ts: float
    col: int = -1
    tracks: dict[TrackKey, CameraTrack] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityEvent:
    """A change of identity state.

    kind: ``new_identity`` (the track founded global id ``gid``), ``assigned`` (it joined existing ``gid``),
    ``corrected`` (it moved from ``previous_gid`` to ``gid``), ``retired`` (identity ``gid`` lost its last track
    to a correction and was merged into ``previous_gid``'s successor; camera/local_id name the moved track).
    """

    kind: EventKind
    camera: str
    local_id: int
    gid: int
    timestamp_s: float
    previous_gid: int | None = None
    similarity: float | None = None
    runner_up: float | None = None


class _Gallery:
    """Row storage of all tracks that belong to identities: raw and normalised features, ids, time spans."""

    def __init__(self) -> None:
        self.dim = 0
        self.raw = np.zeros((0, 0), np.float32)
        self.normed = np.zeros((0, 0), np.float32)
        self.has_feat = np.zeros((0,), bool)
        self.used = np.zeros((0,), bool)
        self.col = np.zeros((0,), np.int64)
        self.cam = np.zeros((0,), np.int64)
        self.first = np.zeros((0,), np.float64)
        self.last = np.zeros((0,), np.float64)
        self.free: list[int] = []
        self.size = 0  # rows [0, size) may be used
        self.dirty: set[int] = set()

    def set_dim(self, dim: int) -> None:
        self.dim = dim
        cap = max(len(self.used), _INITIAL_ROWS)
        self.raw = np.zeros((cap, dim), np.float32)
        self.normed = np.zeros((cap, dim), np.float32)
        self._resize(cap)

    def _resize(self, cap: int) -> None:
        def grow(a: np.ndarray, fill: object) -> np.ndarray:
            out = np.full((cap,) + a.shape[1:], fill, dtype=a.dtype)
            out[: len(a)] = a
            return out

        self.has_feat, self.used = grow(self.has_feat, False), grow(self.used, False)
        self.col, self.cam = grow(self.col, -1), grow(self.cam, -1)
        self.first, self.last = grow(self.first, 0.0), grow(self.last, 0.0)
        if self.dim:
            self.raw, self.normed = grow(self.raw, 0.0), grow(self.normed, 0.0)

    def allocate(self) -> int:
        if self.free:
            return self.free.pop()
        if self.size >= len(self.used):
            self._resize(max(_INITIAL_ROWS, 2 * len(self.used)))
        self.size += 1
        return self.size - 1

    def release(self, row: int) -> None:
        self.used[row] = False
        self.has_feat[row] = False
        self.col[row] = -1
        self.dirty.discard(row)
        self.free.append(row)


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
        cfg: the hub section of the configuration.
        allocate_gid: returns a fresh global id (the hub uses Redis INCR so several processes never collide).
    """

    def __init__(self, cfg: HubConfig, allocate_gid: Callable[[], int]) -> None:
        self.cfg = cfg
        self.allocate_gid = allocate_gid
        self.topology = Topology.from_config(cfg)
        self.normalizer = CameraNormalizer(cfg.camera_normalization, cfg.camera_norm_prior_tracks,
                                           cfg.camera_norm_window_tracks)
        self.tracks: dict[TrackKey, CameraTrack] = {}
        self.identities: dict[int, Identity] = {}
        self.camera_clock: dict[str, float] = {}
        self._pending: set[TrackKey] = set()
        self._young: set[TrackKey] = set()
        self._cameras: dict[str, int] = {}
        self._min_gap = np.zeros((0, 0), np.float64)
        self._rows = _Gallery()
        self._col_gid: list[int] = []
        self._free_cols: list[int] = []
        self._row_owner: dict[int, CameraTrack] = {}
        self._row_offsets: dict[str, np.ndarray] = {}
        self._dirty_rows_pending: set[int] = set()
        self._normalized_version = -1
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
        if m:
            embeddings = np.asarray(embeddings, np.float32).reshape(m, -1)
            self.check_dim(embeddings.shape[1])
            if not self._rows.dim:
                self._rows.set_dim(embeddings.shape[1])
        self._camera_index(camera)
        ts = float(timestamp_s)
        if ts > self.camera_clock.get(camera, -math.inf):
            self.camera_clock[camera] = ts
        out: list[CameraTrack] = []
        for lid in local_ids:
            key = (camera, int(lid))
            t = self.tracks.get(key)
            if t is None:
                t = CameraTrack(camera, int(lid), ts, ts, int(frame_index), int(frame_index))
                self.tracks[key] = t
                self._pending.add(key)
            else:
                if ts > t.last_ts:
                    t.last_ts, t.last_frame = ts, int(frame_index)
                if ts < t.first_ts:
                    t.first_ts, t.first_frame = ts, int(frame_index)
                t.ended = False
            if t.gid is not None:
                ident = self.identities.get(t.gid)
                if ident is not None:
                    ident.last_ts = max(ident.last_ts, t.last_ts)
                    ident.first_ts = min(ident.first_ts, t.first_ts)
                if t.row >= 0:
                    self._set_row_span(t)
            out.append(t)
        if m:
            units = l2_normalize(embeddings)
            q = np.zeros(len(out), np.float32) if quality is None else np.asarray(quality, np.float32)
            for j, row in enumerate(np.asarray(emb_index, np.int64)):
                t = out[int(row)]
                w = max(float(q[row]), MIN_EMBEDDING_WEIGHT)
                t.feat_sum = units[j] * w if t.feat_sum is None else t.feat_sum + units[j] * w
                t.invalidate()
                t.weight += w
                t.n_total += 1
                if q[row] >= self.cfg.min_embedding_quality:
                    t.n_good += 1
                if t.row >= 0:
                    self._rows.dirty.add(t.row)
                    self._dirty_rows_pending.add(t.row)
            for row in set(np.asarray(emb_index, np.int64).tolist()):
                t = out[int(row)]
                f = t.feature()
                if f is not None:
                    self.normalizer.vote(camera, t.key, f)
        return out

    # ------------------------------------------------------------------------------------------------ rows
    def _add_row(self, t: CameraTrack) -> None:
        r = self._rows
        row = r.allocate()
        t.row = row
        self._row_owner[row] = t
        r.used[row] = True
        r.cam[row] = self._camera_index(t.camera)
        self._set_row_span(t)
        r.col[row] = self.identities[t.gid].col  # type: ignore[index]
        self._refresh_row(t)

    def _set_row_span(self, t: CameraTrack) -> None:
        self._rows.first[t.row], self._rows.last[t.row] = t.first_ts, t.last_ts

    def _refresh_row(self, t: CameraTrack) -> None:
        r = self._rows
        f = t.feature()
        if f is None or not r.dim:
            r.has_feat[t.row] = False
            return
        r.raw[t.row] = f
        r.normed[t.row] = self.normalizer.normalize(t.camera, f[None])[0]
        r.has_feat[t.row] = True
        r.dirty.discard(t.row)

    def _refresh_rows(self) -> None:
        """Bring normalised gallery rows up to date: rows whose track got embeddings, and all rows of a camera
        whose normalisation offset moved by more than OFFSET_REFRESH_TOLERANCE since they were normalised."""
        r = self._rows
        if not r.dim:
            return
        for row in list(r.dirty):
            t = self._row_owner.get(row)
            if t is not None:
                f = t.feature()
                if f is not None:
                    r.raw[row] = f
                    r.has_feat[row] = True
        r.dirty.clear()
        if self._normalized_version == self.normalizer.version and not self._dirty_rows_pending:
            return
        used = np.flatnonzero(r.used[: r.size] & r.has_feat[: r.size])
        names = list(self._cameras)
        for ci in np.unique(r.cam[used]):
            camera = names[int(ci)]
            off = self.normalizer.offset(camera)
            cur = np.zeros(r.dim, np.float32) if off is None else off
            old = self._row_offsets.get(camera)
            if old is not None and float(np.linalg.norm(cur - old)) <= OFFSET_REFRESH_TOLERANCE:
                sel = np.fromiter((row for row in self._dirty_rows_pending if r.cam[row] == ci and r.has_feat[row]
                                   and r.used[row]), dtype=np.int64)
            else:
                sel = used[r.cam[used] == ci]
                self._row_offsets[camera] = cur.copy()
            if len(sel):
                r.normed[sel] = self.normalizer.normalize(camera, r.raw[sel])
        self._dirty_rows_pending.clear()
        self._normalized_version = self.normalizer.version

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
        if self.cfg.correction_window_s > 0:
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
            self._row_owner.pop(t.row, None)
            self._dirty_rows_pending.discard(t.row)
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
            f = np.stack([feats[i] for i in have])
            sims = f @ r.normed[rows].T
            sims[~r.has_feat[rows][None].repeat(len(have), 0)] = -np.inf
            sims[own[have]] = -np.inf
            sim_col[np.array(have)[:, None], present[None]] = np.maximum.reduceat(sims, starts, axis=1)
        return sim_col, conflict_col

    # ------------------------------------------------------------------------------------------------ decisions
    def _ready(self, t: CameraTrack, force: bool) -> bool:
        if force or t.ended or t.n_good >= self.cfg.min_embeddings:
            return True
        clock = self.camera_clock.get(t.camera, t.last_ts)
        if clock - t.first_ts >= self.cfg.max_defer_s:
            return True
        return self.clock_s - t.last_ts >= self.cfg.track_timeout_s

    def decide(self, force: bool = False) -> list[IdentityEvent]:
        """Assign ready pending tracks and re-check young ones. ``force``: decide every pending track now."""
        events: list[IdentityEvent] = []
        ready = [self.tracks[k] for k in self._pending if self._ready(self.tracks[k], force)]
        if ready or self._young:
            self._refresh_rows()
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
        threshold = self.cfg.match_threshold
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
        threshold, margin = self.cfg.match_threshold, self.cfg.correction_margin
        due: list[CameraTrack] = []
        for key in sorted(self._young):
            t = self.tracks.get(key)
            if t is None or t.gid is None:
                self._young.discard(key)
                continue
            now = self.camera_clock.get(t.camera, t.last_ts)
            if t.assigned_ts is None or now - t.assigned_ts > self.cfg.correction_window_s:
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
        timeout = self.cfg.track_timeout_s
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
            for old in closed[: max(0, len(closed) - self.cfg.prototypes_per_camera)]:
                ident.tracks.pop(old.key, None)
                self._forget_track(old)
        return ended

    def evict(self) -> list[int]:
        """Drop identities unseen for gallery_retention_s, then the least recently seen beyond max_identities
        (identities with an open track are kept). Returns the evicted global ids."""
        clock = self.clock_s
        if not math.isfinite(clock):
            return []
        evicted = [i for i in self.identities.values() if clock - i.last_ts > self.cfg.gallery_retention_s
                   and all(t.ended for t in i.tracks.values())]
        excess = len(self.identities) - len(evicted) - self.cfg.max_identities
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
                and self.camera_clock[t.camera] - t.assigned_ts <= self.cfg.correction_window_s):
            self._young.add(t.key)
