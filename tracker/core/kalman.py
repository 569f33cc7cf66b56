"""Constant-velocity Kalman filter in DeepSORT's 8-d state (x, y, a, h, vx, vy, va, vh), as stateless math.

The state lives with each track (``mean`` (8,), ``covariance`` (8, 8)); these functions return new values and
keep nothing. Noise is scaled by box height as in DeepSORT, so the filter behaves the same for near and far people.

Two forms of the same math:

- ``predict`` / ``update``: one track, through filterpy's ``predict``/``update`` (the reference).
- ``predict_batch`` / ``update_batch`` / ``gating_distances``: N tracks at once in numpy (the tracker's per-frame
  path, a few vectorised calls instead of a Python loop over tracks). ``tests/test_kalman.py`` checks they equal
  filterpy's ``predict``/``update`` track by track to 1e-9.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import predict as kf_predict
from filterpy.kalman import update as kf_update

from tracker.core.params import KalmanParams

__all__ = ["KalmanModel", "CHI2_95_4DOF", "clamp_height_velocity"]

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
_OFF_DIAGONAL_4 = np.flatnonzero(~np.eye(_NDIM, dtype=bool))  # off-diagonal entries of a flattened 4x4 matrix


def clamp_height_velocity(means: np.ndarray) -> np.ndarray:
    """Zero the height velocity where the next prediction would make the box height <= 0, in place.

    means: (N, 8) (or a (1, 8) view of one track's state). Returns ``means``.
    """
    shrinking = means[:, 3] + means[:, 7] <= 0
    if shrinking.any():
        means[shrinking, 7] = 0.0
    return means


class KalmanModel:
    """Matrices and noise model; holds no track state."""

    def __init__(self, params: KalmanParams | None = None) -> None:
        params = params or KalmanParams()
        self.std_pos = params.position_std_per_height
        self.std_vel = params.velocity_std_per_height
        self.F = np.eye(2 * _NDIM)
        for i in range(_NDIM):
            self.F[i, _NDIM + i] = _DT
        self.H = np.eye(_NDIM, 2 * _NDIM)
        # Noise std per state / measurement component = height * scale + fixed (the aspect ratio's is fixed).
        self._q_scale = np.array([self.std_pos] * 2 + [0.0, self.std_pos] + [self.std_vel] * 2 + [0.0, self.std_vel])
        self._q_fixed = np.array([0.0, 0.0, _ASPECT_POS_STD, 0.0, 0.0, 0.0, _ASPECT_VEL_STD, 0.0])
        self._r_scale = np.array([self.std_pos, self.std_pos, 0.0, self.std_pos])
        self._r_fixed = np.array([0.0, 0.0, _ASPECT_MEAS_STD, 0.0])

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

    def _process_noise_var(self, h: np.ndarray) -> np.ndarray:
        """h: (N,) box heights -> (N, 8) process noise variances (the diagonal of Q per track)."""
        std = h[:, None] * self._q_scale + self._q_fixed
        return std * std

    def _measurement_noise_var(self, h: np.ndarray) -> np.ndarray:
        """h: (N,) box heights -> (N, 4) measurement noise variances (the diagonal of R per track)."""
        std = h[:, None] * self._r_scale + self._r_fixed
        return std * std

    def predict_batch(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead for N tracks: x' = F x, P' = F P F' + Q(h) (filterpy's ``predict`` per row).

        means: (N, 8), covariances: (N, 8, 8) -> predicted means (N, 8), covariances (N, 8, 8) (new arrays).
        """
        means = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        covariances = np.asarray(covariances, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        n = len(means)
        new_means = means @ self.F.T
        new_covs = self.F @ covariances @ self.F.T  # (N, 8, 8), C-contiguous
        new_covs.reshape(n, -1)[:, ::2 * _NDIM + 1] += self._process_noise_var(means[:, 3])  # the diagonals
        return new_means, new_covs

    def innovation_inverse(self, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
        """Inverse innovation covariances S^-1 with S = H P H' + R(h). means (N, 8), covariances (N, 8, 8) -> (N, 4, 4).

        ``gating_distances`` and ``update_batch`` take it precomputed, so a frame inverts each track's S once.
        S is diagonal for every state this model produces (x, y, a and h never correlate: F, Q, R and the initial
        covariance treat them separately); then its inverse is elementwise, otherwise LAPACK inverts it.
        """
        means = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        n = len(means)
        s = np.array(covariances[:, :_NDIM, :_NDIM], dtype=np.float64)  # (N, 4, 4), a contiguous copy
        flat = s.reshape(n, -1)
        flat[:, ::_NDIM + 1] += self._measurement_noise_var(means[:, 3])
        if flat[:, _OFF_DIAGONAL_4].any():
            return np.linalg.inv(s)
        inverse = np.zeros_like(s)
        inverse.reshape(n, -1)[:, ::_NDIM + 1] = 1.0 / flat[:, ::_NDIM + 1]
        return inverse

    def update_batch(self, means: np.ndarray, covariances: np.ndarray, xyah: np.ndarray,
                     innovation_inv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Correct N tracks, track i with measurement xyah[i] (filterpy's ``update`` per row, Joseph form).

        means: (N, 8), covariances: (N, 8, 8), xyah: (N, 4); innovation_inv: (N, 4, 4) from
        ``innovation_inverse`` of the same states, or None to compute it -> posterior means (N, 8), covariances
        (N, 8, 8).
        """
        means = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        covariances = np.asarray(covariances, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        z = np.asarray(xyah, dtype=np.float64).reshape(-1, _NDIM)
        n = len(means)
        if innovation_inv is None:
            innovation_inv = self.innovation_inverse(means, covariances)
        r = self._measurement_noise_var(means[:, 3])  # (N, 4)
        gain = covariances[:, :, :_NDIM] @ innovation_inv  # K = P H' S^-1 (N, 8, 4)
        new_means = means + (gain @ (z - means[:, :_NDIM])[:, :, None])[:, :, 0]
        i_kh = np.zeros_like(covariances)  # I - K H (N, 8, 8)
        i_kh.reshape(n, -1)[:, ::2 * _NDIM + 1] = 1.0
        i_kh[:, :, :_NDIM] -= gain
        new_covs = i_kh @ covariances @ i_kh.transpose(0, 2, 1) + (gain * r[:, None, :]) @ gain.transpose(0, 2, 1)
        return new_means, new_covs

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

    def gating_distances(self, means: np.ndarray, covariances: np.ndarray, xyah: np.ndarray,
                         innovation_inv: np.ndarray | None = None) -> np.ndarray:
        """Batched squared Mahalanobis distances. means (N, 8), covariances (N, 8, 8), xyah (M, 4) -> (N, M).

        d[i, j] = y' S_i^-1 y with y = xyah[j] - H mean[i] and S_i = H P_i H' + R(h_i) (the innovation covariance).
        innovation_inv: (N, 4, 4) from ``innovation_inverse`` of the same states, or None to compute it.
        """
        means = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        z = np.asarray(xyah, dtype=np.float64).reshape(-1, _NDIM)
        n = len(means)
        if n == 0 or len(z) == 0:
            return np.zeros((n, len(z)))
        if innovation_inv is None:
            innovation_inv = self.innovation_inverse(means, covariances)
        d = z[None, :, :] - means[:, None, :_NDIM]  # (N, M, 4)
        weighted = d @ innovation_inv  # (N, M, 4)
        weighted *= d
        return weighted.sum(axis=2)

    def gating_distance(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of measurements xyah (M, 4) to the projected state -> (M,)."""
        proj_mean, S = self.project(mean, covariance)
        d = np.asarray(xyah, dtype=np.float64).reshape(-1, _NDIM) - proj_mean
        chol = np.linalg.cholesky(S)
        z = np.linalg.solve(chol, d.T)
        return np.sum(z * z, axis=0)
