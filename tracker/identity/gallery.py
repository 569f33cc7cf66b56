"""Row storage of the identity gallery: one row per track that belongs to an identity."""

from __future__ import annotations

import numpy as np

__all__ = ["Gallery"]

_INITIAL_ROWS = 256


class Gallery:
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
