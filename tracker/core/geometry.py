"""Ground-plane geometry: a person's foot point in image pixels <-> a point on the ground in metres.

Pure numpy. The camera's ``image_to_ground`` homography ``H`` (3x3, row-major) maps an image point (u, v) in
pixels (u to the right, v down, origin at the top-left corner) to the ground point (x, y) in metres:

    [X, Y, W] = H @ [u, v, 1],    (x, y) = (X / W, Y / W)

A homography is defined up to scale, and the sign matters here: ``W`` is proportional to the inverse depth of the
point in front of the camera, so it has ONE sign on the ground the camera sees and the other sign beyond the
horizon. Every function below expects an *oriented* ``H`` (``W > 0`` in front of the camera; see
:func:`orient_homography`) and answers NaN for image points at or above the horizon (``W <= 0``).

Shapes: N points as (N, 2) float arrays; boxes as (N, 4) ``xyxy`` pixel arrays; covariances as (N, 2, 2) in m^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PointPairs",
    "foot_points_xyxy",
    "foot_sigma_px",
    "feet_visible",
    "homogeneous_w",
    "image_to_ground",
    "ground_to_image",
    "ground_jacobian",
    "ground_covariance",
    "orient_homography",
    "homography_problems",
    "horizon_problems",
    "visible_ground_polygon",
    "clip_polygon_halfplane",
    "clip_polygon_to_box",
    "MAX_CONDITION",
]

# A homography whose 2-norm condition number exceeds this is treated as singular. Image->ground homographies
# mix pixels (hundreds) and metres (units), so healthy ones have condition numbers of 1e3..1e6.
MAX_CONDITION = 1e10
# Without the image size, "in front of the camera" is judged at this image row: far below any real image.
_FAR_BELOW_PX = 1e5
# W values closer to zero than this fraction of the largest |W| at the checked corners count as "on the horizon".
_HORIZON_REL_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class PointPairs:
    """Corresponding points for a calibration: ``image_uv`` (N, 2) pixels and ``ground_xy`` (N, 2) metres.

    ``labels`` (N strings) name the points in reports (e.g. "1", "door corner"); ``source`` names where they came
    from (a file path) for messages."""

    image_uv: np.ndarray
    ground_xy: np.ndarray
    labels: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        uv = np.asarray(self.image_uv, dtype=np.float64).reshape(-1, 2)
        xy = np.asarray(self.ground_xy, dtype=np.float64).reshape(-1, 2)
        if len(uv) != len(xy) or len(self.labels) != len(uv):
            raise ValueError(f"PointPairs: {len(uv)} image points, {len(xy)} ground points and "
                             f"{len(self.labels)} labels; they must match one to one")
        object.__setattr__(self, "image_uv", uv)
        object.__setattr__(self, "ground_xy", xy)

    def __len__(self) -> int:
        return len(self.image_uv)


def _as_h(h: np.ndarray) -> np.ndarray:
    arr = np.asarray(h, dtype=np.float64)
    if arr.shape != (3, 3):
        raise ValueError(f"a homography must be a 3x3 matrix, got shape {arr.shape}")
    return arr


def _as_points(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def foot_points_xyxy(xyxy: np.ndarray) -> np.ndarray:
    """Foot points of boxes: the bottom-centre ``((x1 + x2) / 2, y2)`` in pixels.

    Args:
        xyxy: (N, 4) boxes ``x1, y1, x2, y2`` in pixels.
    Returns:
        (N, 2) float64 ``u, v`` in pixels.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) * 0.5, b[:, 3]], axis=1)


def foot_sigma_px(xyxy: np.ndarray, fraction_of_height: float) -> np.ndarray:
    """The foot point's standard deviation in pixels, proportional to the box height.

    A detector's box bottom wobbles by a roughly constant fraction of the person's image height, so far-away
    (small) people get small pixel errors that the homography then stretches into large ground errors.

    Args:
        xyxy: (N, 4) boxes in pixels.
        fraction_of_height: sigma as a fraction of the box height (e.g. 0.05).
    Returns:
        (N,) sigma in pixels.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.abs(b[:, 3] - b[:, 1]) * float(fraction_of_height)


def feet_visible(xyxy: np.ndarray, image_hw: tuple[int, int], margin_px: float) -> np.ndarray:
    """Whether each box's feet are in the picture: its bottom edge stays ``margin_px`` above the frame's lower edge.

    A box cut off by the lower edge ends at the frame, not at the feet, so its foot point (and ground position)
    would be wrong; such boxes get no ground position.

    Args:
        xyxy: (N, 4) boxes in pixels.
        image_hw: (height, width) of the frame in pixels.
        margin_px: how close (pixels) the bottom edge may come to the frame's last row.
    Returns:
        (N,) bool.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    height = float(image_hw[0])
    return np.asarray(b[:, 3] < height - float(margin_px), dtype=bool)


def homogeneous_w(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The homogeneous coordinate ``W`` of ``H @ [u, v, 1]`` for (N, 2) pixel points -> (N,)."""
    hm = _as_h(h)
    p = _as_points(uv)
    return np.asarray(p @ hm[2, :2] + hm[2, 2], dtype=np.float64)


def image_to_ground(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Image points (pixels) -> ground points (metres) through an oriented image->ground homography.

    Args:
        h: (3, 3) oriented image->ground homography (``W > 0`` in front of the camera).
        uv: (N, 2) image points in pixels.
    Returns:
        (N, 2) ground points in metres; NaN rows where ``W <= 0`` (at or beyond the horizon) or not finite.
    """
    hm = _as_h(h)
    p = _as_points(uv)
    xyw = p @ hm[:, :2].T + hm[:, 2]
    w = xyw[:, 2]
    out = np.full((len(p), 2), np.nan)
    ok = np.isfinite(xyw).all(axis=1) & (w > 0)
    out[ok] = xyw[ok, :2] / w[ok, None]
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


def ground_to_image(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Ground points (metres) -> image points (pixels): the inverse of :func:`image_to_ground`.

    Args:
        h: (3, 3) oriented image->ground homography.
        xy: (N, 2) ground points in metres.
    Returns:
        (N, 2) image points in pixels (may lie outside the frame); NaN rows for ground points behind the camera
        (whose image point would have ``W <= 0``) or a singular ``h``.
    """
    hm = _as_h(h)
    p = _as_points(xy)
    out = np.full((len(p), 2), np.nan)
    try:
        inv = np.linalg.inv(hm)
    except np.linalg.LinAlgError:
        return out
    uvc = p @ inv[:, :2].T + inv[:, 2]
    # H @ [u, v, 1] = [x, y, 1] / c, so the image point's W is 1 / c: in front of the camera iff c > 0.
    c = uvc[:, 2]
    ok = np.isfinite(uvc).all(axis=1) & (c > 0)
    out[ok] = uvc[ok, :2] / c[ok, None]
    return out


def ground_jacobian(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """d(x, y)/d(u, v) of the image->ground mapping at each image point.

    Args:
        h: (3, 3) oriented homography.
        uv: (N, 2) pixels.
    Returns:
        (N, 2, 2) in metres per pixel, rows (x, y), columns (u, v); NaN where ``W <= 0``.
    """
    hm = _as_h(h)
    p = _as_points(uv)
    xyw = p @ hm[:, :2].T + hm[:, 2]
    w = xyw[:, 2]
    jac = np.full((len(p), 2, 2), np.nan)
    ok = np.isfinite(xyw).all(axis=1) & (w > 0)
    if ok.any():
        wk = w[ok][:, None, None]
        num = xyw[ok, :2][:, :, None]  # (K, 2, 1): X, Y
        # d(X/W)/du = (h11 W - X h31) / W^2, etc.
        jac[ok] = (hm[None, :2, :2] * wk - num * hm[None, 2:3, :2]) / wk**2
    return jac


def ground_covariance(h: np.ndarray, uv: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    """Ground-position covariance from an isotropic pixel uncertainty, propagated through the Jacobian.

    ``cov = sigma_px^2 * J @ J.T``: the same pixel error is a larger ground error for points farther from the
    camera (near the horizon), so the covariance grows with distance.

    Args:
        h: (3, 3) oriented homography.
        uv: (N, 2) foot points in pixels.
        sigma_px: (N,) (or a scalar) standard deviation of the foot point in pixels.
    Returns:
        (N, 2, 2) covariance in m^2; NaN where ``W <= 0``.
    """
    p = _as_points(uv)
    jac = ground_jacobian(h, p)
    sigma = np.broadcast_to(np.asarray(sigma_px, dtype=np.float64), (len(p),))
    return np.asarray(jac @ np.transpose(jac, (0, 2, 1)) * (sigma**2)[:, None, None])


def _corners(image_wh: tuple[float, float], lower_half: bool) -> np.ndarray:
    w, ht = float(image_wh[0]), float(image_wh[1])
    top = ht / 2.0 if lower_half else 0.0
    return np.array([[0.0, top], [w, top], [w, ht], [0.0, ht]])


def orient_homography(h: np.ndarray, image_wh: tuple[int, int] | None = None) -> np.ndarray:
    """Scale ``h`` by +1 or -1 so that ``W > 0`` in front of the camera.

    With the image size, "in front" is the bottom-centre pixel (the ground nearest the camera); without it, a point
    far below the image's left edge (row 1e5), which is in front for any upright camera. A homography with
    ``W == 0`` there is returned unchanged (:func:`horizon_problems` reports it).

    Args:
        h: (3, 3) image->ground homography, any scale.
        image_wh: (width, height) in pixels, when known.
    Returns:
        (3, 3) float64, ``h`` or ``-h``.
    """
    hm = _as_h(h).copy()
    ref = np.array([[image_wh[0] / 2.0, float(image_wh[1])]]) if image_wh is not None else np.array(
        [[0.0, _FAR_BELOW_PX]])
    w = homogeneous_w(hm, ref)[0]
    return -hm if w < 0 else hm


def homography_problems(h: np.ndarray, image_wh: tuple[int, int] | None = None,
                        max_condition: float = MAX_CONDITION) -> list[str]:
    """What makes ``h`` unusable as an image->ground homography: shape, finite values, (numerical) invertibility
    and, when the image size (width, height) is given, :func:`horizon_problems`. An empty list means usable."""
    arr = np.asarray(h)
    if arr.shape != (3, 3):
        return [f"must be a 3x3 matrix (3 rows of 3 numbers), got shape {arr.shape}"]
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        return ["holds values that are not numbers"]
    if not np.isfinite(arr).all():
        return ["holds values that are not finite (nan or inf)"]
    cond = float(np.linalg.cond(arr))
    if not np.isfinite(cond) or cond > max_condition:
        return [f"is singular (not invertible: condition number {cond:.3g} > {max_condition:.0e}); a homography "
                f"needs four points in general position, no three on a line"]
    return horizon_problems(arr, image_wh) if image_wh is not None else []


def horizon_problems(h: np.ndarray, image_wh: tuple[int, int]) -> list[str]:
    """Whether the lower half of a ``width x height`` image lies in front of the camera.

    ``W`` is affine in (u, v), so it keeps one sign over the lower half exactly when it has that sign at the four
    corners of the lower half. ``h`` may have either overall sign; orient it with :func:`orient_homography`.

    Returns:
        [] when fine, else one reason.
    """
    hm = _as_h(h)
    corners = _corners(image_wh, lower_half=True)
    w = homogeneous_w(hm, corners)
    scale = float(np.max(np.abs(w))) if len(w) else 0.0
    if scale == 0.0 or not np.isfinite(w).all():
        return ["maps the image's lower half nowhere (W is 0 there)"]
    tol = _HORIZON_REL_TOL * scale
    if (w > tol).all() or (w < -tol).all():
        return []
    width, height = int(image_wh[0]), int(image_wh[1])
    return [f"puts the horizon inside the lower half of the {width}x{height} image (W changes sign between its "
            f"corners {', '.join(f'({u:g}, {v:g})' for u, v in corners)}), so part of the floor right in front of "
            f"the camera would map behind it"]


def clip_polygon_halfplane(poly: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Clip a polygon to the half-plane ``a*x + b*y + c >= 0`` (Sutherland-Hodgman, one edge).

    Args:
        poly: (K, 2) vertices in order.
    Returns:
        (M, 2) clipped polygon (M may be 0).
    """
    pts = _as_points(poly)
    if len(pts) == 0:
        return pts
    side = pts[:, 0] * a + pts[:, 1] * b + c
    out: list[np.ndarray] = []
    for i in range(len(pts)):
        j = (i + 1) % len(pts)
        p, q, sp, sq = pts[i], pts[j], side[i], side[j]
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            out.append(p + t * (q - p))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def clip_polygon_to_box(poly: np.ndarray, x_min: float, y_min: float, x_max: float, y_max: float) -> np.ndarray:
    """Clip a polygon (K, 2) to the axis-aligned box; returns (M, 2), possibly empty."""
    out = _as_points(poly)
    for a, b, c in ((1.0, 0.0, -x_min), (-1.0, 0.0, x_max), (0.0, 1.0, -y_min), (0.0, -1.0, y_max)):
        out = clip_polygon_halfplane(out, a, b, c)
    return out


def visible_ground_polygon(h: np.ndarray, image_wh: tuple[int, int], max_depth_ratio: float = 20.0) -> np.ndarray:
    """The ground region the image shows, as a polygon in metres.

    The image rectangle is clipped to the part in front of the camera with ``W >= W_max / max_depth_ratio``
    (``W`` is proportional to inverse depth, so this keeps points at most ``max_depth_ratio`` times farther than
    the nearest visible ground), then projected; a homography maps straight edges to straight edges, so
    projecting the vertices is exact.

    Args:
        h: (3, 3) oriented image->ground homography.
        image_wh: (width, height) in pixels.
        max_depth_ratio: how far beyond the nearest visible ground the polygon reaches (> 1).
    Returns:
        (K, 2) ground polygon in metres, empty when the image shows no ground.
    """
    hm = _as_h(h)
    rect = _corners(image_wh, lower_half=False)
    w_max = float(np.max(homogeneous_w(hm, rect)))
    if not np.isfinite(w_max) or w_max <= 0:
        return np.zeros((0, 2))
    w_min = w_max / float(max_depth_ratio)
    clipped = clip_polygon_halfplane(rect, float(hm[2, 0]), float(hm[2, 1]), float(hm[2, 2]) - w_min)
    if len(clipped) < 3:
        return np.zeros((0, 2))
    ground = image_to_ground(hm, clipped)
    return np.asarray(ground[np.isfinite(ground).all(axis=1)])
