"""Per-camera embedding normalisation: subtract the camera's mean embedding (its lighting / colour bias)."""

from __future__ import annotations

import collections

import numpy as np

from tracker.identity.params import NormalizationParams
from tracker.identity.vectors import NORM_EPS, l2_normalize

__all__ = ["CameraNormalizer"]


class CameraNormalizer:
    """Per-camera mean of recent track embeddings, subtracted before cosine similarity.

    Each track has one vote (its current mean embedding), so a person standing still for minutes does not become
    the camera's mean; a camera's mean is over its ``window_tracks`` most recent tracks. With few tracks the mean
    is mostly that of the few people seen, and subtracting it would erase them: the camera mean is therefore
    shrunk towards the all-camera mean, ``(n * m_c + k * m_all) / (n + k)`` for n tracks of the camera, and the
    subtraction scaled by ``N / (N + k)`` for N tracks of all cameras (k = ``prior_tracks``). Mode ``"none"``
    subtracts nothing.
    """

    def __init__(self, params: NormalizationParams | None = None) -> None:
        params = params or NormalizationParams()
        if params.mode not in ("none", "mean"):
            raise ValueError(f"camera normalisation mode {params.mode!r}: use none or mean")
        self.mode = params.mode
        self.prior_tracks = int(params.prior_tracks)
        self.window_tracks = int(params.window_tracks)
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
        zero = np.linalg.norm(x, axis=-1) <= NORM_EPS
        out = l2_normalize(x - off)
        out[zero] = 0.0
        return out
