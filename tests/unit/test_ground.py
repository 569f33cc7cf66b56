"""Ground positions of a calibrated camera's tracks (tracker.core.ground) and the geometry config wiring."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.config import ConfigError, load_config
from tracker.config.geometry import ground_params, resolve_calibrations
from tracker.core.geometry import ground_to_image, orient_homography
from tracker.core.ground import GroundEstimator
from tracker.core.params import GroundParams

IMAGE_WH = (360, 288)
# EPFL Terrace c0's published homography (metres); see tests/unit/test_geometry.py.
H_C0 = orient_homography(np.array([[-0.0971434653, -0.4045618236, 54.7564076555],
                                   [0.0697616429, -0.625715761, 50.5422828708],
                                   [0.0009474489, -0.0487376765, 1.0]]), IMAGE_WH)


def _box_at(xy_m: tuple[float, float], height_px: float = 60.0) -> np.ndarray:
    """An xyxy box standing on ground point xy_m."""
    u, v = ground_to_image(H_C0, np.array([xy_m]))[0]
    return np.array([u - height_px / 6, v - height_px, u + height_px / 6, v])


def test_foot_point_maps_to_its_ground_point_with_uncertainty() -> None:
    est = GroundEstimator(H_C0, (IMAGE_WH[1], IMAGE_WH[0]), GroundParams(smoothing_s=0.0))
    out = est.update(np.array([1]), _box_at((4.0, 6.0))[None], 0.0)
    np.testing.assert_allclose(out.xy_m[0], [4.0, 6.0], atol=1e-6)
    eig = np.linalg.eigvalsh(out.cov_m2[0])
    assert np.all(eig > 0) and out.valid.all()


def test_uncertainty_grows_with_distance_from_the_camera() -> None:
    est = GroundEstimator(H_C0, (IMAGE_WH[1], IMAGE_WH[0]), GroundParams(smoothing_s=0.0))
    # Same box height, feet low in the image (near the camera) and high in the image (far from it).
    near, far = np.array([160.0, 200.0, 200.0, 270.0]), np.array([160.0, 40.0, 200.0, 110.0])
    cov = est.update(np.array([1, 2]), np.stack([near, far]), 0.0).cov_m2
    assert np.linalg.eigvalsh(cov[1]).max() > 2 * np.linalg.eigvalsh(cov[0]).max()


def test_no_position_while_the_feet_are_cut_off_by_the_lower_edge() -> None:
    est = GroundEstimator(H_C0, (IMAGE_WH[1], IMAGE_WH[0]), GroundParams(edge_margin_px=2.0))
    box = np.array([[100.0, 200.0, 140.0, IMAGE_WH[1] - 1.0]])
    out = est.update(np.array([7]), box, 0.0)
    assert not out.valid.any() and np.isnan(out.cov_m2).all()


def test_positions_are_smoothed_per_track_in_camera_time() -> None:
    est = GroundEstimator(H_C0, (IMAGE_WH[1], IMAGE_WH[0]), GroundParams(smoothing_s=0.5))
    est.update(np.array([1]), _box_at((4.0, 6.0))[None], 0.0)
    jumped = est.update(np.array([1]), _box_at((5.0, 6.0))[None], 0.1).xy_m[0]
    alpha = 1 - np.exp(-0.1 / 0.5)
    np.testing.assert_allclose(jumped, [4.0 + alpha, 6.0], atol=1e-6)
    other = est.update(np.array([2]), _box_at((5.0, 6.0))[None], 0.2).xy_m[0]  # a new track starts unsmoothed
    np.testing.assert_allclose(other, [5.0, 6.0], atol=1e-6)
    restarted = est.update(np.array([1]), _box_at((2.0, 6.0))[None], 10.0).xy_m[0]  # forgotten after 5 s
    np.testing.assert_allclose(restarted, [2.0, 6.0], atol=1e-6)


def test_geometry_config_maps_and_resolves_calibrations(tmp_path) -> None:
    cfg = load_config(None, ["geometry.foot_sigma_fraction=0.1"])
    assert ground_params(cfg.geometry) == GroundParams(foot_sigma_fraction=0.1)
    rows = [[float(v) for v in row] for row in H_C0]
    cfg = load_config(None, [f"cameras=[{{name: c0, source: x.mp4, calibration: {{image_to_ground: {rows}}}}}, "
                             "{name: c1, source: y.mp4}]"])
    cals = resolve_calibrations(cfg, ["c0", "c1"])
    assert list(cals) == ["c0"]
    np.testing.assert_allclose(cals["c0"].image_to_ground, H_C0)
    calib = tmp_path / "calibration.yaml"
    calib.write_text(f"cameras:\n  cx:\n    image_to_ground: {rows}\n")
    cfg = load_config(None, [f"geometry.calibration_file={calib}"])
    with pytest.raises(ConfigError, match="cx"):
        resolve_calibrations(cfg, ["c0", "c1"])


def test_bad_inline_calibration_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.calibration: camera 'a'.*3x3"):
        load_config(None, ["cameras=[{name: a, source: x.mp4, calibration: {image_to_ground: [[1, 2], [3, 4]]}}]"])
    with pytest.raises(ConfigError, match="singular"):
        load_config(None, ["cameras=[{name: a, source: x.mp4, calibration: "
                           "{image_to_ground: [[1, 0, 0], [0, 1, 0], [0, 0, 0]]}}]"])
