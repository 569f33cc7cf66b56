"""What a camera worker reports per confirmed track and frame (the hub's input), and the boxes of earlier frames it
reports late."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TrackletUpdate", "LateBox"]


@dataclass(frozen=True)
class TrackletUpdate:
    """One confirmed local track in one frame.

    Attributes:
        camera_id: camera name.
        local_id: the per-camera track id (unique within the camera for the worker's life).
        frame_index: 1-based frame index of the camera.
        timestamp_s: frame time in seconds (media time for replays, wall clock for live).
        xyxy: (4,) float box in camera pixels.
        confidence: detector score of the matched detection.
        embedding: (D,) float32 L2-normalised Re-ID feature of this frame's detection, or None when the
            worker did not compute/attach one this frame (publish cadence, tiny crop, Re-ID off).
        embedding_quality: score in [0, 1] of how trustworthy the embedding is (detector confidence times
            un-occludedness); 0 when embedding is None.
        ground_xy_m: (2,) float64 position on the ground plane in metres (foot point through the camera's
            calibration, smoothed), or None: camera not calibrated, feet cut off by the frame edge, or beyond the
            horizon.
        ground_cov_m2: (2, 2) float64 covariance of ground_xy_m in m^2 (grows with distance from the camera), or
            None with it.
    """

    camera_id: str
    local_id: int
    frame_index: int
    timestamp_s: float
    xyxy: np.ndarray
    confidence: float
    embedding: np.ndarray | None = None
    embedding_quality: float = 0.0
    ground_xy_m: np.ndarray | None = None
    ground_cov_m2: np.ndarray | None = None


@dataclass(frozen=True)
class LateBox:
    """A confirmed track's box in an earlier frame, known only now: a box it had while tentative (sent when it is
    confirmed) or one filled in over a gap (sent when the track is found again). It goes to the track's stored
    trajectory, not to the identity engine.

    Attributes:
        local_id: the per-camera track id (confirmed, with an update in this frame or an earlier one).
        frame_index: the earlier frame (1-based).
        timestamp_s: that frame's time in seconds.
        xyxy: (4,) float box in camera pixels.
        confidence: detector score (of a filled box: the lower of the detections around the gap).
    """

    local_id: int
    frame_index: int
    timestamp_s: float
    xyxy: np.ndarray
    confidence: float
