"""A calibrated camera's tracks on the ground plane: foot point -> position in metres, smoothed per track, with an
uncertainty that grows with distance from the camera. Pure numpy.

The camera's oriented ``image_to_ground`` homography (see :mod:`tracker.core.geometry`) maps each track's foot point
(bottom-centre of its ``xyxy`` box) to the ground. The foot point's pixel uncertainty is a fraction of the box
height; propagated through the homography's Jacobian it gives a 2x2 covariance in m^2, larger far from the camera.
No position is given while the box's bottom touches the frame's lower edge (the feet are cut off) or while the
foot point is at or beyond the horizon. Each track's position is smoothed exponentially in camera time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracker.core.geometry import feet_visible, foot_points_xyxy, foot_sigma_px, ground_covariance, image_to_ground
from tracker.core.params import GroundParams

__all__ = ["GroundEstimate", "GroundEstimator"]


@dataclass(frozen=True)
class GroundEstimate:
    """Ground positions of N tracks in one frame.

    Attributes:
        xy_m: (N, 2) float64 positions in metres; NaN rows where a track has no position this frame.
        cov_m2: (N, 2, 2) float64 covariances in m^2; NaN where xy_m is NaN.
    """

    xy_m: np.ndarray
    cov_m2: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """(N,) bool: the tracks that have a position."""
        return np.all(np.isfinite(self.xy_m), axis=1)


@dataclass
class _Smoothed:
    ts_s: float
    xy_m: np.ndarray
    cov_m2: np.ndarray


class GroundEstimator:
    """One calibrated camera's per-track ground positions.

    Args:
        image_to_ground: (3, 3) oriented homography (``W > 0`` in front of the camera).
        image_hw: the frame's (height, width) in pixels.
        params: see :class:`tracker.core.params.GroundParams`.
    """

    def __init__(self, image_to_ground: np.ndarray, image_hw: tuple[int, int], params: GroundParams) -> None:
        self.h = np.asarray(image_to_ground, np.float64).reshape(3, 3)
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        self.params = params
        self._tracks: dict[int, _Smoothed] = {}

    def update(self, local_ids: np.ndarray, xyxy: np.ndarray, timestamp_s: float) -> GroundEstimate:
        """Positions of the tracks ``local_ids`` (N,) with boxes ``xyxy`` (N, 4) pixels at ``timestamp_s``."""
        n = len(local_ids)
        xy = np.full((n, 2), np.nan)
        cov = np.full((n, 2, 2), np.nan)
        if n:
            boxes = np.asarray(xyxy, np.float64).reshape(n, 4)
            uv = foot_points_xyxy(boxes)
            raw_xy = image_to_ground(self.h, uv)
            raw_cov = ground_covariance(self.h, uv, foot_sigma_px(boxes, self.params.foot_sigma_fraction))
            ok = feet_visible(boxes, self.image_hw, self.params.edge_margin_px)
            ok &= np.all(np.isfinite(raw_xy), axis=1) & np.all(np.isfinite(raw_cov), axis=(1, 2))
            for i in np.flatnonzero(ok):
                xy[i], cov[i] = self._smooth(int(local_ids[i]), raw_xy[i], raw_cov[i], float(timestamp_s))
        self._forget(float(timestamp_s))
        return GroundEstimate(xy, cov)

    def _smooth(self, local_id: int, xy_m: np.ndarray, cov_m2: np.ndarray,
                ts_s: float) -> tuple[np.ndarray, np.ndarray]:
        state = self._tracks.get(local_id)
        tau = self.params.smoothing_s
        if state is None or tau <= 0 or ts_s <= state.ts_s or ts_s - state.ts_s > self.params.forget_after_s:
            state = _Smoothed(ts_s, xy_m.copy(), cov_m2.copy())
        else:
            alpha = 1.0 - math.exp(-(ts_s - state.ts_s) / tau)
            state = _Smoothed(ts_s, (1 - alpha) * state.xy_m + alpha * xy_m,
                              (1 - alpha) * state.cov_m2 + alpha * cov_m2)
        self._tracks[local_id] = state
        return state.xy_m, state.cov_m2

    def _forget(self, now_s: float) -> None:
        stale = [k for k, s in self._tracks.items() if now_s - s.ts_s > self.params.forget_after_s]
        for k in stale:
            del self._tracks[k]
