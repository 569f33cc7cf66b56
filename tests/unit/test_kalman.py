import numpy as np
import pytest

from tracker.core.boxes import (
    iou_matrix,
    tlwh_to_xyxy,
    xyah_to_xyxy,
    xyxy_to_tlwh,
    xyxy_to_xyah,
)
from tracker.core.kalman import CHI2_95_4DOF, KalmanModel
from tracker.core.params import KalmanParams


def test_box_round_trips():
    xyxy = np.array([[10.0, 20.0, 40.0, 100.0], [0.0, 0.0, 5.0, 5.0]])
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(xyxy)), xyxy)
    np.testing.assert_allclose(tlwh_to_xyxy(xyxy_to_tlwh(xyxy)), xyxy)
    np.testing.assert_allclose(xyxy_to_xyah(xyxy[0]), [25.0, 60.0, 30.0 / 80.0, 80.0])


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_constant_velocity_is_learned():
    kf = KalmanModel(KalmanParams())
    mean, cov = kf.initiate(np.array([100.0, 200.0, 0.4, 80.0]))
    for step in range(1, 15):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([100.0 + 5 * step, 200.0, 0.4, 80.0]))
    assert mean[4] == pytest.approx(5.0, abs=0.3)  # vx
    assert abs(mean[5]) < 0.3
    pred, _ = kf.predict(mean, cov)
    assert pred[0] == pytest.approx(100.0 + 5 * 15, abs=1.0)


def test_uncertainty_grows_without_measurements():
    kf = KalmanModel()
    mean, cov = kf.initiate(np.array([0.0, 0.0, 0.5, 100.0]))
    traces = []
    for _ in range(5):
        mean, cov = kf.predict(mean, cov)
        traces.append(np.trace(cov[:4, :4]))
    assert all(b > a for a, b in zip(traces, traces[1:]))


def test_gating_distance_separates_near_and_far():
    kf = KalmanModel()
    mean, cov = kf.initiate(np.array([300.0, 200.0, 0.4, 100.0]))
    mean, cov = kf.predict(mean, cov)
    d = kf.gating_distance(mean, cov, np.array([[302.0, 201.0, 0.4, 101.0], [400.0, 200.0, 0.4, 100.0]]))
    assert d[0] < CHI2_95_4DOF < d[1]


def test_noise_scales_with_box_height():
    """The same relative motion gates the same way for a near (tall) and a far (short) person."""
    kf = KalmanModel()
    near, near_cov = kf.predict(*kf.initiate(np.array([0.0, 0.0, 0.4, 200.0])))
    far, far_cov = kf.predict(*kf.initiate(np.array([0.0, 0.0, 0.4, 50.0])))
    d_near = kf.gating_distance(near, near_cov, np.array([[20.0, 0.0, 0.4, 200.0]]))
    d_far = kf.gating_distance(far, far_cov, np.array([[5.0, 0.0, 0.4, 50.0]]))
    assert d_near[0] == pytest.approx(d_far[0], rel=0.05)


def test_batched_gating_equals_per_track():
    kf = KalmanModel()
    rng = np.random.default_rng(0)
    states = [kf.predict(*kf.initiate(np.array([rng.uniform(0, 500), rng.uniform(0, 500), 0.4, h])))
              for h in (40.0, 90.0, 200.0)]
    z = np.column_stack([rng.uniform(0, 500, 6), rng.uniform(0, 500, 6), np.full(6, 0.4), rng.uniform(30, 220, 6)])
    batched = kf.gating_distances(np.stack([m for m, _ in states]), np.stack([c for _, c in states]), z)
    single = np.stack([kf.gating_distance(m, c, z) for m, c in states])
    np.testing.assert_allclose(batched, single, rtol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# The batched math (the tracker's per-frame path) against filterpy, track by track.

def _random_states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n random means (n, 8) and fully random SPD covariances (n, 8, 8) (correlated, unlike the model's own)."""
    means = np.column_stack([rng.uniform(0, 800, n), rng.uniform(0, 600, n), rng.uniform(0.2, 0.7, n),
                             rng.uniform(20, 300, n), rng.normal(0, 3, (n, 4))])
    a = rng.normal(size=(n, 8, 8))
    covariances = a @ a.transpose(0, 2, 1) + 8 * np.eye(8)
    return means, covariances


def _noise(kf: KalmanModel, h: float) -> tuple[np.ndarray, np.ndarray]:
    """DeepSORT's Q (8, 8) and R (4, 4) for box height h, written out here as the reference."""
    from tracker.core.kalman import _ASPECT_MEAS_STD, _ASPECT_POS_STD, _ASPECT_VEL_STD

    p, v = kf.std_pos * h, kf.std_vel * h
    q = np.diag(np.square([p, p, _ASPECT_POS_STD, p, v, v, _ASPECT_VEL_STD, v]))
    r = np.diag(np.square([p, p, _ASPECT_MEAS_STD, p]))
    return q, r


def test_batched_predict_and_update_equal_filterpy() -> None:
    from filterpy.kalman import predict as fp_predict
    from filterpy.kalman import update as fp_update

    kf = KalmanModel()
    rng = np.random.default_rng(5)
    means, covs = _random_states(rng, 12)
    pred_means, pred_covs = kf.predict_batch(means, covs)
    z = pred_means[:, :4] + rng.normal(0, 4, (12, 4))
    post_means, post_covs = kf.update_batch(pred_means, pred_covs, z)
    for i in range(12):
        q, _ = _noise(kf, means[i, 3])
        x, p = fp_predict(means[i], covs[i], kf.F, q)
        np.testing.assert_allclose(pred_means[i], x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(pred_covs[i], p, rtol=1e-9, atol=1e-9)
        _, r = _noise(kf, pred_means[i, 3])
        x, p = fp_update(pred_means[i], pred_covs[i], z[i], r, kf.H)
        np.testing.assert_allclose(post_means[i], x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(post_covs[i], p, rtol=1e-9, atol=1e-9)


def test_batched_gating_equals_filterpy_mahalanobis() -> None:
    from filterpy.stats import mahalanobis

    kf = KalmanModel()
    rng = np.random.default_rng(6)
    random_states = _random_states(rng, 5)  # correlated S: the general (LAPACK) inverse
    model_states = kf.predict_batch(*_random_model_states(kf, rng, 5))  # diagonal S: the elementwise inverse
    z = np.column_stack([rng.uniform(0, 800, 7), rng.uniform(0, 600, 7), rng.uniform(0.2, 0.7, 7),
                         rng.uniform(20, 300, 7)])
    for means, covs in (random_states, model_states):
        d2 = kf.gating_distances(means, covs, z)
        for i in range(len(means)):
            _, r = _noise(kf, means[i, 3])
            s = covs[i][:4, :4] + r
            expected = [mahalanobis(zj, means[i, :4], s) ** 2 for zj in z]
            np.testing.assert_allclose(d2[i], expected, rtol=1e-9)


def _random_model_states(kf: KalmanModel, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """States the model itself produces: initiate, then a few predict/update rounds."""
    states = [kf.initiate(np.array([rng.uniform(0, 800), rng.uniform(0, 600), rng.uniform(0.2, 0.7),
                                    rng.uniform(20, 300)])) for _ in range(n)]
    means, covs = np.stack([m for m, _ in states]), np.stack([c for _, c in states])
    for _ in range(3):
        means, covs = kf.predict_batch(means, covs)
        means, covs = kf.update_batch(means, covs, means[:, :4] + rng.normal(0, 2, (n, 4)))
    return means, covs


def test_innovation_inverse_takes_the_elementwise_path_exactly() -> None:
    kf = KalmanModel()
    rng = np.random.default_rng(7)
    means, covs = kf.predict_batch(*_random_model_states(kf, rng, 6))
    s = covs[:, :4, :4] + np.stack([_noise(kf, h)[1] for h in means[:, 3]])
    assert not np.any(s - np.stack([np.diag(np.diag(m)) for m in s])), "the model's S is diagonal"
    np.testing.assert_array_equal(kf.innovation_inverse(means, covs), np.linalg.inv(s))
    means, covs = _random_states(rng, 6)  # correlated: LAPACK
    s = covs[:, :4, :4] + np.stack([_noise(kf, h)[1] for h in means[:, 3]])
    np.testing.assert_allclose(kf.innovation_inverse(means, covs), np.linalg.inv(s), rtol=1e-12)
