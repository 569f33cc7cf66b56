import numpy as np
import pytest

from tracker.boxes import iou_matrix, tlwh_to_xyxy, xyah_to_xyxy, xyxy_to_tlwh, xyxy_to_xyah
from tracker.config import KalmanConfig
from tracker.kalman import CHI2_95_4DOF, KalmanModel


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
    kf = KalmanModel(KalmanConfig())
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
