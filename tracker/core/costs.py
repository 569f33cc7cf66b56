"""Cost matrices for association (pure numpy). Rows are tracks, columns are detections."""

from __future__ import annotations

import numpy as np

from tracker.core.boxes import iou_matrix

__all__ = ["INFEASIBLE", "iou_distance", "cosine_distance", "fuse_costs"]

#: Cost of a pair that must not be matched.
INFEASIBLE = 1e5


def iou_distance(tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) -> (N, M) 1 - IoU."""
    return 1.0 - iou_matrix(tracks_xyxy, dets_xyxy)


def cosine_distance(track_features: np.ndarray, det_features: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) L2-normalised features -> (N, M) cosine distance in [0, 2].

    A zero feature (missing) on either side gives NaN, so callers can fall back to motion for that pair.
    """
    a = np.asarray(track_features, dtype=np.float32)
    b = np.asarray(det_features, dtype=np.float32)
    if a.size == 0 or b.size == 0:
        return np.full((len(a), len(b)), np.nan)
    dist = (1.0 - a @ b.T).astype(np.float64)
    np.minimum(np.maximum(dist, 0.0, out=dist), 2.0, out=dist)
    missing_a, missing_b = ~a.any(axis=1), ~b.any(axis=1)
    if missing_a.any():
        dist[missing_a] = np.nan
    if missing_b.any():
        dist[:, missing_b] = np.nan
    return dist


def fuse_costs(iou_dist: np.ndarray, app_dist: np.ndarray, gate_mask: np.ndarray, appearance_weight: float,
               max_cosine_distance: float, max_iou_distance: float) -> np.ndarray:
    """Combine motion and appearance into one cost matrix (N, M).

    - ``gate_mask`` (N, M) bool: True where the Mahalanobis gate allows the pair; others are INFEASIBLE.
    - Where both sides have features: cost = w * cosine + (1 - w) * (1 - IoU); pairs with cosine above
      ``max_cosine_distance`` are INFEASIBLE (a different-looking person is never matched on motion alone).
    - Where a feature is missing: cost = 1 - IoU, feasible only below ``max_iou_distance``.
    """
    has_app = ~np.isnan(app_dist)
    app = np.where(has_app, app_dist, 0.0)
    cost = np.where(has_app, appearance_weight * app + (1.0 - appearance_weight) * iou_dist, iou_dist)
    # infeasible: outside the gate; too different (with features); too little overlap (without)
    cost[~gate_mask | np.where(has_app, app > max_cosine_distance, iou_dist > max_iou_distance)] = INFEASIBLE
    return cost
