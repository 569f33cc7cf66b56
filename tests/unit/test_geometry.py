"""Ground-plane geometry (tracker.core.geometry) and the homography fit (tracker.models.calibration_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.core.geometry import (
    PointPairs,
    clip_polygon_to_box,
    feet_visible,
    foot_points_xyxy,
    foot_sigma_px,
    ground_covariance,
    ground_jacobian,
    ground_to_image,
    homography_problems,
    horizon_problems,
    image_to_ground,
    orient_homography,
    visible_ground_polygon,
)
from tracker.models.calibration_fit import CalibrationFitError, FitMethod, fit_homography

EPFL_WH = (360, 288)
# EPFL Terrace camera c0's published image->ground homography in metres (epfl-terrace1-dev/calibration.yaml), inlined
# so this unit tier runs without ../shared; tests/integration/test_calibration.py loads the file itself.
EPFL_C0_IMAGE_TO_GROUND = np.array([[-0.0971434653, -0.4045618236, 54.7564076555],
                                    [0.0697616429, -0.625715761, 50.5422828708],
                                    [0.0009474489, -0.0487376765, 1.0]])


@pytest.fixture(scope="module")
def epfl_c0() -> np.ndarray:
    return orient_homography(EPFL_C0_IMAGE_TO_GROUND, EPFL_WH)


def _random_floor_points(h: np.ndarray, n: int, rng: np.random.Generator) -> PointPairs:
    """n image points in the lower 70% of the EPFL frame with their exact ground points."""
    uv = np.stack([rng.uniform(0, EPFL_WH[0], n), rng.uniform(0.3 * EPFL_WH[1], EPFL_WH[1], n)], axis=1)
    return PointPairs(uv, image_to_ground(h, uv), tuple(str(i) for i in range(n)), "synthetic")


def test_foot_points_are_bottom_centres() -> None:
    boxes = np.array([[10.0, 20.0, 30.0, 120.0], [0.0, 0.0, 1.0, 2.0]])
    np.testing.assert_allclose(foot_points_xyxy(boxes), [[20.0, 120.0], [0.5, 2.0]])
    np.testing.assert_allclose(foot_sigma_px(boxes, 0.05), [5.0, 0.1])
    assert foot_points_xyxy(np.zeros((0, 4))).shape == (0, 2)


def test_feet_visible_only_when_the_box_bottom_clears_the_lower_edge() -> None:
    boxes = np.array([[0, 0, 10, 100], [0, 0, 10, 285], [0, 0, 10, 288], [0, 0, 10, 283.9]], dtype=float)
    np.testing.assert_array_equal(feet_visible(boxes, (288, 360), margin_px=4), [True, False, False, True])


def test_ground_projection_round_trip(epfl_c0: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    pts = _random_floor_points(epfl_c0, 200, rng)
    assert np.isfinite(pts.ground_xy).all()
    np.testing.assert_allclose(ground_to_image(epfl_c0, pts.ground_xy), pts.image_uv, atol=1e-6)


def test_points_beyond_the_horizon_have_no_ground_position(epfl_c0: np.ndarray) -> None:
    # c0's horizon crosses the image near row 20: the top rows and points far above the image are behind it.
    above = np.array([[180.0, 0.0], [10.0, -500.0]])
    assert np.isnan(image_to_ground(epfl_c0, above)).all()
    assert np.isnan(ground_covariance(epfl_c0, above, np.ones(2))).all()
    # and a ground point behind the camera does not come back into the picture
    behind = image_to_ground(-epfl_c0, np.array([[180.0, 0.0]]))  # the mirrored point, beyond the horizon
    assert np.isnan(ground_to_image(epfl_c0, behind)).all()


def test_orientation_does_not_depend_on_the_matrix_sign(epfl_c0: np.ndarray) -> None:
    np.testing.assert_allclose(orient_homography(-epfl_c0, EPFL_WH), epfl_c0)
    np.testing.assert_allclose(orient_homography(-3.0 * epfl_c0), 3.0 * epfl_c0)  # without the image size
    uv = np.array([[100.0, 200.0]])
    np.testing.assert_allclose(image_to_ground(orient_homography(-2.5 * epfl_c0), uv), image_to_ground(epfl_c0, uv))


def test_jacobian_matches_finite_differences(epfl_c0: np.ndarray) -> None:
    uv = np.array([[50.0, 150.0], [300.0, 270.0]])
    jac = ground_jacobian(epfl_c0, uv)
    eps = 1e-4
    for k, d in enumerate(np.eye(2)):
        numeric = (image_to_ground(epfl_c0, uv + eps * d) - image_to_ground(epfl_c0, uv - eps * d)) / (2 * eps)
        np.testing.assert_allclose(jac[:, :, k], numeric, rtol=1e-5)


def test_covariance_grows_with_distance_from_the_camera(epfl_c0: np.ndarray) -> None:
    # Foot points higher up the image are farther away: the same pixel error is a larger ground error there.
    uv = np.array([[180.0, v] for v in (280.0, 220.0, 160.0, 100.0, 60.0)])
    cov = ground_covariance(epfl_c0, uv, np.full(len(uv), 2.0))
    ground = image_to_ground(epfl_c0, uv)
    camera_side = image_to_ground(epfl_c0, np.array([[180.0, 288.0]]))[0]
    distance = np.linalg.norm(ground - camera_side, axis=1)
    spread = np.sqrt(np.linalg.eigvalsh(cov)[:, -1])  # metres along the worst direction
    assert np.all(np.diff(distance) > 0)
    assert np.all(np.diff(spread) > 0)
    assert spread[-1] > 5 * spread[0]
    # symmetric, positive definite, and sigma scales it quadratically
    np.testing.assert_allclose(cov, np.transpose(cov, (0, 2, 1)))
    assert (np.linalg.eigvalsh(cov) > 0).all()
    np.testing.assert_allclose(ground_covariance(epfl_c0, uv, np.full(len(uv), 4.0)), 4 * cov)


def test_validity_checks_give_reasons(epfl_c0: np.ndarray) -> None:
    assert homography_problems(epfl_c0, EPFL_WH) == []
    assert "3x3" in homography_problems(np.eye(2))[0]
    assert "not finite" in homography_problems(np.array([[1, 0, 0], [0, np.nan, 0], [0, 0, 1.0]]))[0]
    assert "singular" in homography_problems(np.array([[1, 2, 3], [2, 4, 6], [0, 0, 1.0]]))[0]
    # a horizon through the middle of the image: row 200 of a 360x288 frame
    tilted = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, -1 / 200.0, 1.0]])
    assert "horizon" in horizon_problems(tilted, EPFL_WH)[0]
    assert homography_problems(tilted) == []  # without the image size the horizon cannot be judged


def test_visible_ground_polygon_is_the_projected_frame(epfl_c0: np.ndarray) -> None:
    poly = visible_ground_polygon(epfl_c0, EPFL_WH)
    assert len(poly) >= 4 and np.isfinite(poly).all()
    bottom = image_to_ground(epfl_c0, np.array([[0.0, 288.0], [360.0, 288.0]]))
    assert min(np.linalg.norm(poly - bottom[0], axis=1)) < 1e-9
    assert min(np.linalg.norm(poly - bottom[1], axis=1)) < 1e-9
    boxed = clip_polygon_to_box(poly, 0, 0, 5, 5)
    assert (boxed >= -1e-9).all() and (boxed <= 5 + 1e-9).all()


def test_homography_recovered_from_exact_pairs(epfl_c0: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    for n in (4, 12):
        pts = _random_floor_points(epfl_c0, n, rng)
        fit = fit_homography(pts)
        assert fit.method == ("lsq" if n == 4 else "ransac")
        assert fit.max_error_m < 1e-5  # metres
        probe = _random_floor_points(epfl_c0, 100, rng)
        assert np.max(np.linalg.norm(image_to_ground(fit.image_to_ground, probe.image_uv) - probe.ground_xy,
                                     axis=1)) < 1e-3  # a millimetre anywhere on the floor


def test_homography_recovered_from_noisy_pairs_and_an_outlier(epfl_c0: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    pts = _random_floor_points(epfl_c0, 30, rng)
    noisy_xy = pts.ground_xy + rng.normal(0.0, 0.05, pts.ground_xy.shape)  # 5 cm tape-measure noise
    noisy_xy[0] += (3.0, -2.0)  # one badly measured point
    noisy = PointPairs(pts.image_uv, noisy_xy, pts.labels, "noisy")
    probe = _random_floor_points(epfl_c0, 200, rng)
    errors = {}
    methods: tuple[FitMethod, ...] = ("ransac", "lmeds", "lsq")
    for method in methods:
        fit = fit_homography(noisy, method=method, ransac_threshold_m=0.3)
        errors[method] = np.linalg.norm(image_to_ground(fit.image_to_ground, probe.image_uv) - probe.ground_xy,
                                        axis=1)
        if method != "lsq":
            assert not fit.inliers[0] and fit.inliers[1:].mean() > 0.9
            assert fit.errors_m[0] > 2.0  # the outlier is reported, not fitted
    # robust fits stay within a few noise sigmas across the floor; least squares is pulled by the outlier
    assert np.median(errors["ransac"]) < 0.1 and np.median(errors["lmeds"]) < 0.1
    assert np.median(errors["lsq"]) > np.median(errors["ransac"])


def test_fit_refuses_degenerate_points(epfl_c0: np.ndarray) -> None:
    line_uv = np.array([[10.0, 100.0], [50.0, 140.0], [90.0, 180.0], [130.0, 220.0], [170.0, 260.0]])
    on_a_line = PointPairs(line_uv, image_to_ground(epfl_c0, line_uv), tuple("abcde"), "line.csv")
    with pytest.raises(CalibrationFitError, match="line"):
        fit_homography(on_a_line)
    three_in_a_row = np.array([[10.0, 100.0], [50.0, 140.0], [90.0, 180.0], [300.0, 120.0]])
    pairs = PointPairs(three_in_a_row, image_to_ground(epfl_c0, three_in_a_row), tuple("abcd"), "four.csv")
    with pytest.raises(CalibrationFitError, match="a, b, c lie on one line"):
        fit_homography(pairs)
    with pytest.raises(CalibrationFitError, match="at least 4"):
        fit_homography(PointPairs(line_uv[:3], line_uv[:3], tuple("abc"), "three.csv"))
