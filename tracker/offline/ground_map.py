"""Pictures of the ground plane: a calibration check drawn over a camera frame, and a top-view map of trajectories.

Both are for people: a wrong calibration or a wrong identity should be obvious at a glance.
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from tracker.core.geometry import (
    PointPairs,
    clip_polygon_to_box,
    ground_to_image,
    image_to_ground,
    visible_ground_polygon,
)

__all__ = ["draw_calibration_check", "render_ground_map", "id_colour"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GRID_BGR = (255, 200, 0)
_GIVEN_BGR = (0, 255, 0)
_REPROJ_BGR = (0, 0, 255)
_ERROR_BGR = (0, 255, 255)


def id_colour(global_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour for an identity (golden-ratio hues)."""
    hue = (global_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int]) -> None:
    """Text on a dark box, readable on any background; ``org`` is the bottom-left corner of the text."""
    thick = max(1, int(round(scale * 2)))
    (w, h), base = cv2.getTextSize(text, _FONT, scale, thick)
    x, y = org
    if x + w + 1 >= img.shape[1]:  # would run off the right edge: end the text at the anchor instead
        x = max(1, min(x, img.shape[1]) - w - 2)
    y = int(np.clip(y, h + 2, img.shape[0] - base - 1))
    cv2.rectangle(img, (x - 1, y - h - 2), (x + w + 1, y + base), (20, 20, 20), -1)
    cv2.putText(img, text, (x, y), _FONT, scale, colour, thick, cv2.LINE_AA)


def _polyline_in_image(img: np.ndarray, uv: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    """Draw consecutive finite points (pixels) as polylines, breaking at NaN or far-outside points."""
    h, w = img.shape[:2]
    limit = 4.0 * max(h, w)
    ok = np.isfinite(uv).all(axis=1) & (np.abs(uv) < limit).all(axis=1)
    run: list[np.ndarray] = []
    for p, good in zip(uv, ok):
        if good:
            run.append(p)
            continue
        if len(run) >= 2:
            cv2.polylines(img, [np.round(np.array(run)).astype(np.int32)], False, colour, thickness, cv2.LINE_AA)
        run = []
    if len(run) >= 2:
        cv2.polylines(img, [np.round(np.array(run)).astype(np.int32)], False, colour, thickness, cv2.LINE_AA)


def _check_grid_box(h: np.ndarray, image_wh: tuple[int, int], points: PointPairs) -> tuple[float, float, float,
                                                                                             float]:
    """The ground box (metres) to draw the grid in: the given points plus a few metres, within the visible floor."""
    xy = points.ground_xy
    span = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]), 1.0))
    pad = max(3.0, 0.5 * span)
    x0, y0 = xy.min(axis=0) - pad
    x1, y1 = xy.max(axis=0) + pad
    visible = visible_ground_polygon(h, image_wh)
    if len(visible) >= 3:
        clipped = clip_polygon_to_box(visible, x0, y0, x1, y1)
        if len(clipped) >= 3:
            (x0, y0), (x1, y1) = clipped.min(axis=0), clipped.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def draw_calibration_check(image: np.ndarray, h: np.ndarray, points: PointPairs, min_side_px: int = 720) -> np.ndarray:
    """The camera frame with the calibration drawn over it.

    Drawn: a 1 m ground grid (whole metres labelled every 5 m), and for each point pair the clicked image point
    (green circle), its measured ground point projected back into the image (red cross), the difference as a
    yellow line, and the point's label with its error in metres. A good calibration shows crosses inside the
    circles and a grid that lies flat on the floor with square-looking cells.

    Args:
        image: (H, W, 3) BGR uint8 frame (or (H, W) grey), not modified.
        h: (3, 3) oriented image->ground homography (pixels -> metres).
        points: the pairs the homography was fitted to.
        min_side_px: a frame whose longer side is shorter is enlarged by a whole factor first, so that labels fit.
    Returns:
        (k*H, k*W, 3) BGR uint8 copy with the drawing (k = 1, or the enlargement factor).
    """
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    k = max(1, math.ceil(min_side_px / max(out.shape[:2])))
    if k > 1:
        out = cv2.resize(out, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        # pixels of the enlarged frame: (u, v) = k * original
        h = np.asarray(h, dtype=np.float64) @ np.diag([1.0 / k, 1.0 / k, 1.0])
        points = PointPairs(points.image_uv * k, points.ground_xy, points.labels, points.source)
    ih, iw = out.shape[:2]
    scale = max(0.35, min(ih, iw) / 900.0)
    thick = max(1, int(round(min(ih, iw) / 400)))
    x0, y0, x1, y1 = _check_grid_box(h, (iw, ih), points)
    overlay = out.copy()
    steps = 200
    for x in range(math.ceil(x0), math.floor(x1) + 1):
        line = np.stack([np.full(steps, float(x)), np.linspace(y0, y1, steps)], axis=1)
        _polyline_in_image(overlay, ground_to_image(h, line), _GRID_BGR, thick + (1 if x % 5 == 0 else 0))
    for y in range(math.ceil(y0), math.floor(y1) + 1):
        line = np.stack([np.linspace(x0, x1, steps), np.full(steps, float(y))], axis=1)
        _polyline_in_image(overlay, ground_to_image(h, line), _GRID_BGR, thick + (1 if y % 5 == 0 else 0))
    out = cv2.addWeighted(overlay, 0.6, out, 0.4, 0.0)
    for x in range(math.ceil(x0 / 5) * 5, math.floor(x1) + 1, 5):
        for y in range(math.ceil(y0 / 5) * 5, math.floor(y1) + 1, 5):
            uv = ground_to_image(h, np.array([[x, y]], dtype=np.float64))[0]
            if np.isfinite(uv).all() and 0 <= uv[0] < iw and 0 <= uv[1] < ih:
                _text(out, f"({x},{y})", (int(uv[0]) + 3, int(uv[1]) - 3), scale * 0.8, _GRID_BGR)
    projected_ground = image_to_ground(h, points.image_uv)
    errors = np.linalg.norm(projected_ground - points.ground_xy, axis=1)
    reprojected = ground_to_image(h, points.ground_xy)
    radius = max(4, int(round(min(ih, iw) / 60)))
    for label, given, back, err in zip(points.labels, points.image_uv, reprojected, errors):
        g = (int(round(given[0])), int(round(given[1])))
        if np.isfinite(back).all() and (np.abs(back) < 4 * max(ih, iw)).all():
            b = (int(round(back[0])), int(round(back[1])))
            cv2.line(out, g, b, _ERROR_BGR, thick, cv2.LINE_AA)
            cv2.drawMarker(out, b, _REPROJ_BGR, cv2.MARKER_CROSS, 2 * radius, thick + 1, cv2.LINE_AA)
        cv2.circle(out, g, radius, _GIVEN_BGR, thick + 1, cv2.LINE_AA)
        err_text = f"{err:.2f} m" if np.isfinite(err) else "beyond horizon"
        label_text = f"{label}: {err_text}"
        text_w = cv2.getTextSize(label_text, _FONT, scale, max(1, int(round(scale * 2))))[0][0]
        lx = g[0] + radius + 2 if g[0] + radius + 4 + text_w < iw else g[0] - radius - 4 - text_w  # keep it inside
        _text(out, label_text, (lx, g[1] + radius + 2), scale, (255, 255, 255))
    finite = errors[np.isfinite(errors)]
    summary = (f"{len(points)} points, error median {np.median(finite):.2f} m, max {np.max(finite):.2f} m"
               if len(finite) else f"{len(points)} points, none in front of the camera")
    legend = "o clicked point   x measured ground point re-projected   grid 1 m"
    line_px = int(22 * scale / 0.6)
    _text(out, summary, (6, line_px), scale, (255, 255, 255))
    _text(out, legend, (6, 2 * line_px), scale * 0.8, (255, 255, 255))
    return out


def _nice_step_m(span_m: float, target_lines: int = 12) -> float:
    raw = max(span_m / target_lines, 1e-6)
    mag = 10 ** math.floor(math.log10(raw))
    for f in (1, 2, 5, 10):
        if raw <= f * mag:
            return float(f * mag)
    return float(10 * mag)


def render_ground_map(trajectories: dict[int, np.ndarray], cameras: dict[str, tuple[np.ndarray, tuple[int, int]]],
                      size_px: int = 900, margin_m: float = 1.0) -> np.ndarray:
    """A top view of the ground: each identity's trajectory, each camera's field of view, a grid and a scale bar.

    x runs to the right and y up (a map, not an image). A camera's field of view is a tinted polygon whose thick
    edge is the image's bottom row: the floor nearest the camera, so the camera looks from that side. The view
    covers every trajectory point plus ``margin_m``; without trajectories it covers the cameras' fields of view
    (clipped at 20x the nearest visible ground's depth, see :func:`tracker.core.geometry.visible_ground_polygon`).

    Args:
        trajectories: global id -> (N, 2) ground points in metres, in time order (NaN rows are gaps).
        cameras: camera name -> (oriented image->ground homography (3, 3), image (width, height) in pixels).
        size_px: the map's longer side in pixels (the picture adds a strip for the title and legend).
        margin_m: metres around the content.
    Returns:
        (H, W, 3) BGR uint8 picture.
    """
    fovs = {name: visible_ground_polygon(h, wh) for name, (h, wh) in cameras.items()}
    pts = [np.asarray(t, dtype=np.float64).reshape(-1, 2) for t in trajectories.values()]
    finite = [p[np.isfinite(p).all(axis=1)] for p in pts]
    content = np.concatenate([p for p in finite if len(p)] or [np.zeros((0, 2))])
    if len(content) == 0:
        content = np.concatenate([f for f in fovs.values() if len(f)] or [np.zeros((1, 2))])
    x0, y0 = content.min(axis=0) - margin_m
    x1, y1 = content.max(axis=0) + margin_m
    span = max(float(x1 - x0), float(y1 - y0), 1.0)
    px_per_m = size_px / span
    map_w = max(1, int(math.ceil((x1 - x0) * px_per_m)))
    map_h = max(1, int(math.ceil((y1 - y0) * px_per_m)))
    top = 40
    img: np.ndarray = np.full((map_h + top, map_w, 3), 30, dtype=np.uint8)

    def to_px(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.stack([(xy[:, 0] - x0) * px_per_m, top + (y1 - xy[:, 1]) * px_per_m], axis=1)

    step = _nice_step_m(span)
    for gx in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step):
        u = int(round((gx - x0) * px_per_m))
        cv2.line(img, (u, top), (u, top + map_h), (60, 60, 60), 1)
        _text(img, f"{gx:g}", (u + 2, top + map_h - 4), 0.35, (150, 150, 150))
    for gy in np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step):
        v = int(round(top + (y1 - gy) * px_per_m))
        cv2.line(img, (0, v), (map_w, v), (60, 60, 60), 1)
        _text(img, f"{gy:g}", (2, v - 2), 0.35, (150, 150, 150))

    cam_colours = [(200, 200, 200), (180, 120, 255), (120, 220, 255), (255, 180, 120), (160, 255, 160)]
    drawn: list[tuple[str, tuple[int, int, int], np.ndarray, np.ndarray]] = []
    overlay = img.copy()
    for i, (name, poly) in enumerate(fovs.items()):
        clipped = clip_polygon_to_box(poly, x0, y0, x1, y1) if len(poly) >= 3 else poly
        if len(clipped) < 3:
            continue
        colour = cam_colours[i % len(cam_colours)]
        cam_h, (cam_w, cam_ht) = cameras[name]
        near = image_to_ground(cam_h, np.array([[0.0, cam_ht], [cam_w / 2.0, cam_ht], [cam_w, cam_ht]]))
        p = np.round(to_px(clipped)).astype(np.int32)
        cv2.fillPoly(overlay, [p], colour)
        drawn.append((name, colour, p, to_px(near)))
    img = cv2.addWeighted(overlay, 0.15, img, 0.85, 0.0)
    for name, colour, p, near_px in drawn:
        cv2.polylines(img, [p], True, colour, 1, cv2.LINE_AA)
        # the image's bottom edge: the ground nearest the camera, i.e. the side the camera looks from
        _polyline_in_image(img, near_px, colour, 4)
        anchor = near_px[1] if np.isfinite(near_px[1]).all() else p.mean(axis=0)
        ax = int(np.clip(anchor[0], 0, map_w - 90))
        ay = int(np.clip(anchor[1], top + 14, top + map_h - 4))
        _text(img, f"camera {name}", (ax, ay), 0.5, colour)

    for gid, traj in sorted(trajectories.items()):
        colour = id_colour(gid)
        uv = to_px(np.asarray(traj, dtype=np.float64))
        _polyline_in_image(img, uv, colour, 2)
        ok = np.isfinite(uv).all(axis=1)
        if not ok.any():
            continue
        first, last = uv[ok][0], uv[ok][-1]
        cv2.circle(img, (int(first[0]), int(first[1])), 3, colour, -1, cv2.LINE_AA)
        cv2.circle(img, (int(last[0]), int(last[1])), 5, colour, 2, cv2.LINE_AA)
        _text(img, str(gid), (int(last[0]) + 6, int(last[1]) - 6), 0.5, colour)

    bar_m = _nice_step_m(span, target_lines=5)
    bar_px = int(round(bar_m * px_per_m))
    bx, by = map_w - bar_px - 12, top + map_h - 16
    cv2.line(img, (bx, by), (bx + bar_px, by), (255, 255, 255), 3)
    for end in (bx, bx + bar_px):
        cv2.line(img, (end, by - 5), (end, by + 5), (255, 255, 255), 2)
    _text(img, f"{bar_m:g} m", (bx, by - 8), 0.5, (255, 255, 255))
    _text(img, f"ground map: {len(trajectories)} identities, {len(cameras)} cameras, grid {step:g} m, "
               f"x right, y up", (6, 26), 0.55, (255, 255, 255))
    return img
