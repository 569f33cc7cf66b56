"""The ``geometry`` section: ground positions of calibrated cameras' tracks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.config.calibration import CameraCalibration, load_calibration
from tracker.config.fields import _f
from tracker.core.params import GroundParams

if TYPE_CHECKING:
    from tracker.config.app import Config

__all__ = ["GeometryConfig", "ground_params", "resolve_calibrations"]


@dataclass
class GeometryConfig:
    calibration_file: str = _f("", "Calibration file (`cameras: {NAME: {image_to_ground, image_size}}`, as written "
                               "by `mctrack calibrate`) for cameras without an inline cameras[].calibration; "
                               "replay's --calibration sets it. Empty = none: cameras without calibration are "
                               "tracked in pixels only.")
    foot_sigma_fraction: float = _f(0.05, "Uncertainty of a person's foot point in pixels, as a fraction of the box "
                                    "height (boxes jitter, feet are hidden or blurred); propagated through the "
                                    "camera's homography it gives each ground position an uncertainty that grows "
                                    "with distance from the camera.", lo=0.0, hi=1.0, lo_open=True)
    edge_margin_px: float = _f(2.0, "No ground position while a box's bottom is within this of the frame's lower "
                               "edge: the feet are cut off there.", lo=0.0, hi=1000.0)
    smoothing_s: float = _f(0.3, "Time constant of the exponential smoothing of each track's ground position "
                            "(camera time; 0 = none).", lo=0.0, hi=60.0)
    forget_after_s: float = _f(5.0, "A track unseen this long restarts its smoothing.", lo=0.0, hi=3600.0,
                               lo_open=True)


def ground_params(cfg: GeometryConfig) -> GroundParams:
    """The ``geometry`` section -> the ground estimator's parameters."""
    return GroundParams(foot_sigma_fraction=cfg.foot_sigma_fraction, edge_margin_px=cfg.edge_margin_px,
                        smoothing_s=cfg.smoothing_s, forget_after_s=cfg.forget_after_s)


def resolve_calibrations(cfg: Config, cameras: Sequence[str]) -> dict[str, CameraCalibration]:
    """The calibrated cameras among ``cameras``: each camera's inline ``cameras[].calibration`` if it has one, else
    its entry in ``geometry.calibration_file``. Cameras with neither are left out (tracked in pixels only).

    Raises:
        ConfigError: a bad calibration, or a file naming a camera that is not among ``cameras`` (a typo would
            silently leave a camera uncalibrated), naming the file or key, the camera and the fix.
    """
    out: dict[str, CameraCalibration] = {}
    if cfg.geometry.calibration_file:
        out.update(load_calibration(cfg.geometry.calibration_file, cameras))
    for i, cam in enumerate(cfg.cameras):
        inline = cam.calibrated(f"cameras[{i}].calibration")
        if inline is not None and cam.name in cameras:
            out[cam.name] = inline
    return {name: out[name] for name in cameras if name in out}
