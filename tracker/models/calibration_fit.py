"""Fit a camera's image->ground homography to image <-> ground point pairs (OpenCV), with errors in metres."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from tracker.core.geometry import PointPairs, homogeneous_w, homography_problems, image_to_ground

__all__ = ["CalibrationFitError", "FitMethod", "HomographyFit", "fit_homography", "reprojection_errors_m"]

logger = logging.getLogger(__name__)

FitMethod = Literal["auto", "lsq", "ransac", "lmeds"]
# Robust fits draw 4-point samples; below this many points they cannot tell an outlier from a good point.
_MIN_ROBUST_POINTS = 6
# Points whose spread (smallest / largest singular value of the centred coordinates) is below this lie on a line.
_MIN_SPREAD_RATIO = 1e-3


class CalibrationFitError(ValueError):
    """The point pairs do not determine a usable homography; the message says why and what to change."""


@dataclass(frozen=True, eq=False)
class HomographyFit:
    """A fitted homography and how well it explains the points.

    Attributes:
        image_to_ground: (3, 3) float64, pixels -> metres, oriented (W > 0 in front of the camera).
        errors_m: (N,) distance in metres between each measured ground point and its image point's projection
            (inf where the image point projects beyond the horizon).
        inliers: (N,) bool, the points the fit used (all of them for a least-squares fit).
        method: the method actually used: "lsq", "ransac" or "lmeds".
    """

    image_to_ground: np.ndarray
    errors_m: np.ndarray
    inliers: np.ndarray
    method: str

    @property
    def median_error_m(self) -> float:
        return float(np.median(self.errors_m))

    @property
    def max_error_m(self) -> float:
        return float(np.max(self.errors_m))


def _spread_problem(points: np.ndarray, what: str, source: str) -> None:
    centred = points - points.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[0] == 0.0 or sv[-1] / sv[0] < _MIN_SPREAD_RATIO:
        raise CalibrationFitError(f"{source}: the {what} points lie on (nearly) one line or on one spot, so they "
                                  f"cannot fix a homography; add points spread over the floor (not all along one "
                                  f"line)")


def _collinear_triples(points: np.ndarray) -> list[tuple[int, int, int]]:
    """Index triples of (nearly) collinear points among four: each makes a 4-point fit degenerate."""
    scale = float(np.ptp(points, axis=0).max()) or 1.0
    out = []
    for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        a, b, c = points[i], points[j], points[k]
        area2 = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
        if area2 < _MIN_SPREAD_RATIO * scale**2:
            out.append((i, j, k))
    return out


def reprojection_errors_m(h: np.ndarray, points: PointPairs) -> np.ndarray:
    """(N,) metres between each measured ground point and ``image_to_ground(h, image point)``; inf beyond the
    horizon."""
    projected = image_to_ground(h, points.image_uv)
    err = np.linalg.norm(projected - points.ground_xy, axis=1)
    return np.where(np.isfinite(err), err, np.inf)


def fit_homography(points: PointPairs, method: FitMethod = "auto", ransac_threshold_m: float = 0.5) -> HomographyFit:
    """Fit the image->ground homography to point pairs.

    Args:
        points: four or more image (pixels) <-> ground (metres) pairs.
        method: "lsq" (least squares on all points), "ransac" or "lmeds" (robust: ignore outliers), or "auto":
            least squares for fewer than six points, RANSAC from six on.
        ransac_threshold_m: a point counts as an outlier for RANSAC when its error exceeds this (metres).
    The result is oriented so that W > 0 at (most of) the given image points: they show the floor, so they are in
    front of the camera. Whether the frame's lower half is too is for the caller to check (it knows the frame).
    Raises:
        CalibrationFitError: too few points, points on a line, a singular or failed fit.
    """
    n = len(points)
    source = points.source or "points"
    if n < 4:
        raise CalibrationFitError(f"{source}: {n} point pair(s); a homography needs at least 4")
    uv, xy = points.image_uv, points.ground_xy
    _spread_problem(uv, "image", source)
    _spread_problem(xy, "ground", source)
    if n == 4:
        for what, pts in (("image", uv), ("ground", xy)):
            bad = _collinear_triples(pts)
            if bad:
                names = ", ".join(points.labels[i] for i in bad[0])
                raise CalibrationFitError(f"{source}: {what} points {names} lie on one line, so four points cannot "
                                          f"fix a homography; move one of them off the line or add points")
    chosen = method if method != "auto" else ("ransac" if n >= _MIN_ROBUST_POINTS else "lsq")
    if chosen in ("ransac", "lmeds") and n < _MIN_ROBUST_POINTS:
        logger.warning("%s: %d points are too few for a robust %s fit; using least squares", source, n, chosen)
        chosen = "lsq"
    flags = {"lsq": 0, "ransac": cv2.RANSAC, "lmeds": cv2.LMEDS}[chosen]
    h, mask = cv2.findHomography(uv.astype(np.float64), xy.astype(np.float64), flags, float(ransac_threshold_m))
    if h is None:
        raise CalibrationFitError(f"{source}: OpenCV found no homography for these points ({chosen}); check that "
                                  f"each image point matches its ground point and that they are spread out")
    problems = homography_problems(h)
    if problems:
        raise CalibrationFitError(f"{source}: the fitted homography {problems[0]}")
    if np.count_nonzero(homogeneous_w(h, uv) < 0) * 2 > n:
        h = -h
    inliers = mask.reshape(-1).astype(bool) if mask is not None else np.ones(n, dtype=bool)
    if chosen == "lsq":
        inliers = np.ones(n, dtype=bool)
    errors = reprojection_errors_m(h, points)
    logger.info("%s: %s fit on %d of %d points, median error %.3f m, max %.3f m", source, chosen,
                int(inliers.sum()), n, float(np.median(errors)), float(np.max(errors)))
    return HomographyFit(image_to_ground=h, errors_m=errors, inliers=inliers, method=chosen)
