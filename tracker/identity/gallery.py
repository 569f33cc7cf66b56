"""The identity gallery: one row per track that belongs to an identity, with its raw and camera-normalised
mean embedding, its identity column, camera, time span and first / last ground position (arrays, so scoring is a
few matrix operations)."""

from __future__ import annotations

import numpy as np

from tracker.identity.normalizer import CameraNormalizer
from tracker.identity.records import CameraTrack

__all__ = ["Gallery", "OFFSET_REFRESH_TOLERANCE"]

_INITIAL_ROWS = 256
# Gallery rows are re-normalised when their camera's offset moved by more than this (unit-length features).
OFFSET_REFRESH_TOLERANCE = 0.01


class Gallery:
    """Row storage of all tracks that belong to identities: raw and normalised features (N, D), identity column,
    camera index and time span (N,) per row; for tracks with ground positions (``has_ground``) the time of the
    first and last sample (N,) s, and the robust start and end (``GroundHistory.head`` / ``tail``): time (N,) s,
    position (N, 2) m and isotropic variance (N,) m^2.

    ``dirty``: rows whose track got embeddings since its raw feature was copied; ``unnormalized``: rows to
    re-normalise at the next :meth:`refresh` even if their camera's offset did not move.
    """

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
        self.has_ground = np.zeros((0,), bool)
        self.ground_first_ts = np.zeros((0,), np.float64)
        self.ground_last_ts = np.zeros((0,), np.float64)
        self.head_ts = np.zeros((0,), np.float64)
        self.tail_ts = np.zeros((0,), np.float64)
        self.head_xy = np.zeros((0, 2), np.float64)
        self.tail_xy = np.zeros((0, 2), np.float64)
        self.head_var = np.zeros((0,), np.float64)
        self.tail_var = np.zeros((0,), np.float64)
        self.free: list[int] = []
        self.size = 0  # rows [0, size) may be used
        self.dirty: set[int] = set()
        self.unnormalized: set[int] = set()
        self.owner: dict[int, CameraTrack] = {}
        self._offsets: dict[str, np.ndarray] = {}  # camera -> the offset its rows were last normalised with
        self._normalized_version = -1

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
        self.has_ground = grow(self.has_ground, False)
        self.ground_first_ts, self.ground_last_ts = grow(self.ground_first_ts, 0.0), grow(self.ground_last_ts, 0.0)
        self.head_ts, self.tail_ts = grow(self.head_ts, 0.0), grow(self.tail_ts, 0.0)
        self.head_xy, self.tail_xy = grow(self.head_xy, 0.0), grow(self.tail_xy, 0.0)
        self.head_var, self.tail_var = grow(self.head_var, 0.0), grow(self.tail_var, 0.0)
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
        self.has_ground[row] = False
        self.col[row] = -1
        self.dirty.discard(row)
        self.free.append(row)
        self.owner.pop(row, None)
        self.unnormalized.discard(row)

    def add(self, t: CameraTrack, camera_index: int, col: int, normalizer: CameraNormalizer,
            ground_window_s: float) -> None:
        """Give track t (which joined identity column ``col``) a row, with its current features and ground
        summary (``set_ground``)."""
        row = self.allocate()
        t.row = row
        self.owner[row] = t
        self.used[row] = True
        self.cam[row] = camera_index
        self.set_span(t)
        self.set_ground(t, ground_window_s)
        self.col[row] = col
        self.refresh_row(t, normalizer)

    def set_span(self, t: CameraTrack) -> None:
        """Copy track t's time span to its row."""
        self.first[t.row], self.last[t.row] = t.first_ts, t.last_ts

    def set_ground(self, t: CameraTrack, window_s: float) -> None:
        """Copy track t's start and end on the ground (``GroundHistory.head`` / ``tail`` over ``window_s``) to
        its row (no positions: the row has no ground)."""
        g, row = t.ground, t.row
        if g is None or not len(g):
            self.has_ground[row] = False
            return
        self.has_ground[row] = True
        self.ground_first_ts[row], self.ground_last_ts[row] = g.ts[0], g.ts[-1]
        self.head_ts[row], self.head_xy[row], self.head_var[row] = g.head(window_s)
        self.tail_ts[row], self.tail_xy[row], self.tail_var[row] = g.tail(window_s)

    def mark_dirty(self, row: int) -> None:
        """The row's track got an embedding: copy and re-normalise its feature at the next :meth:`refresh`."""
        self.dirty.add(row)
        self.unnormalized.add(row)

    def refresh_row(self, t: CameraTrack, normalizer: CameraNormalizer) -> None:
        """Copy and normalise track t's feature into its row now."""
        f = t.feature()
        if f is None or not self.dim:
            self.has_feat[t.row] = False
            return
        self.raw[t.row] = f
        self.normed[t.row] = normalizer.normalize(t.camera, f[None])[0]
        self.has_feat[t.row] = True
        self.dirty.discard(t.row)

    def refresh(self, normalizer: CameraNormalizer, camera_names: list[str]) -> None:
        """Bring normalised rows up to date: rows whose track got embeddings, and all rows of a camera whose
        normalisation offset moved by more than OFFSET_REFRESH_TOLERANCE since they were normalised.
        camera_names: camera index -> name (the ``cam`` column's index space)."""
        if not self.dim:
            return
        for row in list(self.dirty):
            t = self.owner.get(row)
            if t is not None:
                f = t.feature()
                if f is not None:
                    self.raw[row] = f
                    self.has_feat[row] = True
        self.dirty.clear()
        if self._normalized_version == normalizer.version and not self.unnormalized:
            return
        used = np.flatnonzero(self.used[: self.size] & self.has_feat[: self.size])
        for ci in np.unique(self.cam[used]):
            camera = camera_names[int(ci)]
            off = normalizer.offset(camera)
            cur = np.zeros(self.dim, np.float32) if off is None else off
            old = self._offsets.get(camera)
            if old is not None and float(np.linalg.norm(cur - old)) <= OFFSET_REFRESH_TOLERANCE:
                sel = np.fromiter((row for row in self.unnormalized if self.cam[row] == ci and self.has_feat[row]
                                   and self.used[row]), dtype=np.int64)
            else:
                sel = used[self.cam[used] == ci]
                self._offsets[camera] = cur.copy()
            if len(sel):
                self.normed[sel] = normalizer.normalize(camera, self.raw[sel])
        self.unnormalized.clear()
        self._normalized_version = normalizer.version
