"""Parameters of the per-camera tracking core, as small frozen dataclasses.

The core reads only these; the application config (``tracker.config``) maps its ``kalman`` and ``tracker`` sections
onto them (``tracker.config.mapping``), so importing the core loads no YAML or config machinery. Defaults equal the
application config's defaults (``tests/test_config.py`` checks it); the config documents each value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KalmanParams", "TrackerParams", "GroundParams", "OutputBox"]

OutputBox = Literal["detection", "filtered"]
"""Box written for a matched track: the detector's box or the Kalman posterior."""


@dataclass(frozen=True)
class KalmanParams:
    """Noise model of the constant-velocity Kalman filter, as standard deviations per pixel of box height.

    position_std_per_height: position (x, y, h) noise std / box height, per frame (DeepSORT: 1/20).
    velocity_std_per_height: velocity noise std / box height, per frame (DeepSORT: 1/160).
    """

    position_std_per_height: float = 1.0 / 20
    velocity_std_per_height: float = 1.0 / 160


@dataclass(frozen=True)
class TrackerParams:
    """Association and lifecycle tunables of ``MultiObjectTracker`` (see the ``tracker`` config section).

    Scores are detector confidences in [0, 1]; distances are cosine distances in [0, 2] or 1 - IoU in [0, 1];
    ``gating_chi2`` is a squared Mahalanobis distance (4 dof).
    """

    high_score_threshold: float = 0.5
    new_track_score_threshold: float = 0.6
    n_init_frames: int = 3
    max_age_s: float = 3.0
    gating_chi2: float = 9.4877
    max_cosine_distance: float = 0.32
    appearance_weight: float = 0.5
    max_iou_distance: float = 0.7
    low_score_max_iou_distance: float = 0.5
    iou_max_missed_frames: int = 2
    iou_pass_appearance_gate: bool = True
    matching_cascade: bool = False
    ema_alpha: float = 0.9
    appearance_update_max_iou: float = 0.4
    output_box: OutputBox = "filtered"
    gallery_size: int = 30
    max_history: int = 300
    split_switches: bool = True
    switch_min_embeddings: int = 3
    switch_sigmas: float = 3.0
    switch_watch_s: float = 2.0
    fill_gaps_max_s: float = 1.0


@dataclass(frozen=True)
class GroundParams:
    """How a calibrated camera turns its tracks' boxes into ground positions (``GroundEstimator``).

    foot_sigma_fraction: standard deviation of the foot point in pixels, as a fraction of the box height (the
        uncertainty then grows with distance through the homography). edge_margin_px: no position while the box's
        bottom is within this of the frame's lower edge (feet cut off). smoothing_s: time constant of the
        exponential smoothing of each track's position (0 = none). forget_after_s: a track unseen this long loses
        its smoothing state.
    """

    foot_sigma_fraction: float = 0.05
    edge_margin_px: float = 2.0
    smoothing_s: float = 0.3
    forget_after_s: float = 5.0
