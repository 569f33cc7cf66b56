"""Constant-velocity Kalman filter in DeepSORT's 8-d state (x, y, a, h, vx, vy, va, vh), as stateless math.

The state lives with each track (``mean`` (8,), ``covariance`` (8, 8)); these functions return new values and
keep nothing. Prediction and correction use filterpy's ``predict``/``update``; noise is scaled by box height as
in DeepSORT, so the filter behaves the same for near and far people.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import predict as kf_predict
from filterpy.kalman import update as kf_update

from tracker.config import KalmanConfig

__all__ = ["KalmanModel", "CHI2_95_4DOF"]

#: 95% quantile of the chi-square distribution with 4 degrees of freedom (gating on x, y, a, h).
CHI2_95_4DOF = 9.4877

_NDIM = 4
_DT = 1.0
# DeepSORT's fixed noise on the aspect ratio, which does not scale with the box height.
_ASPECT_POS_STD = 1e-2
_ASPECT_VEL_STD = 1e-5
_ASPECT_MEAS_STD = 1e-1
# Initial uncertainty multipliers (DeepSORT): position x2, velocity x10 of the per-frame noise.
_INIT_POS_FACTOR = 2.0
_INIT_VEL_FACTOR = 10.0


class KalmanModel:
    """Matrices and noise model; holds no track state."""

    def __init__(self, cfg: KalmanConfig | None = None) -> None:
        cfg = cfg or KalmanConfig()
        self.std_pos = cfg.std_weight_position
        self.std_vel = cfg.std_weight_velocity
        self.F = np.eye(2 * _NDIM)
        for i in range(_NDIM):
            self.F[i, _NDIM + i] = _DT
        self.H = np.eye(_NDIM, 2 * _NDIM)

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """xyah: (4,) measurement -> mean (8,), covariance (8, 8) of a new track (zero velocity)."""
        mean = np.concatenate([np.asarray(xyah, dtype=np.float64), np.zeros(_NDIM)])
        h = mean[3]
        std = np.array([
            _INIT_POS_FACTOR * self.std_pos * h, _INIT_POS_FACTOR * self.std_pos * h, _ASPECT_POS_STD,
            _INIT_POS_FACTOR * self.std_pos * h,
            _INIT_VEL_FACTOR * self.std_vel * h, _INIT_VEL_FACTOR * self.std_vel * h, _ASPECT_VEL_STD,
            _INIT_VEL_FACTOR * self.std_vel * h,
        ])
        return mean, np.diag(std ** 2)

    def _process_noise(self, h: float) -> np.ndarray:
        std = np.array([self.std_pos * h, self.std_pos * h, _ASPECT_POS_STD, self.std_pos * h,
                        self.std_vel * h, self.std_vel * h, _ASPECT_VEL_STD, self.std_vel * h])
        return np.diag(std ** 2)

    def _measurement_noise(self, h: float) -> np.ndarray:
        std = np.array([self.std_pos * h, self.std_pos * h, _ASPECT_MEAS_STD, self.std_pos * h])
        return np.diag(std ** 2)

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead. mean (8,), covariance (8, 8) -> predicted (mean, covariance)."""
        x, P = kf_predict(mean, covariance, self.F, self._process_noise(mean[3]))
        return x, P

    def update(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct with a measurement xyah (4,) -> posterior (mean, covariance)."""
        x, P = kf_update(mean, covariance, np.asarray(xyah, dtype=np.float64),
                         self._measurement_noise(mean[3]), self.H)
        return x, P

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Into measurement space: (4,) mean and (4, 4) innovation covariance S = H P H' + R."""
        return mean[:_NDIM].copy(), covariance[:_NDIM, :_NDIM] + self._measurement_noise(mean[3])

    def gating_distances(self, means: np.ndarray, covariances: np.ndarray, xyah: np.ndarray) -> np.ndarray:
        """Batched squared Mahalanobis distances. means (N, 8), covariances (N, 8, 8), xyah (M, 4) -> (N, M)."""
        means = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        z = np.asarray(xyah, dtype=np.float64).reshape(-1, _NDIM)
        if len(means) == 0 or len(z) == 0:
            return np.zeros((len(means), len(z)))
        h = means[:, 3]
        r = np.stack([self.std_pos * h, self.std_pos * h, np.full_like(h, _ASPECT_MEAS_STD), self.std_pos * h], 1)
        S = covariances[:, :_NDIM, :_NDIM] + r[:, :, None] ** 2 * np.eye(_NDIM)[None]
        chol = np.linalg.cholesky(S)  # (N, 4, 4)
        d = z[None, :, :] - means[:, None, :_NDIM]  # (N, M, 4)
        sol = np.linalg.solve(chol, d.transpose(0, 2, 1))  # (N, 4, M)
        return np.sum(sol * sol, axis=1)

    def gating_distance(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of measurements xyah (M, 4) to the projected state -> (M,)."""
        proj_mean, S = self.project(mean, covariance)
        d = np.asarray(xyah, dtype=np.float64).reshape(-1, _NDIM) - proj_mean
        chol = np.linalg.cholesky(S)
        z = np.linalg.solve(chol, d.T)
        return np.sum(z * z, axis=0)
