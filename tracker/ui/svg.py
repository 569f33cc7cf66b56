"""Geometry of the pages' inline SVG drawings: the ground plane fitted into a picture (top view, y up) and the
timeline of which camera saw an identity when. Pure functions over numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MapFrame", "fit_map", "scale_bar_m", "TimelineBar", "timeline_bars"]


@dataclass(frozen=True)
class MapFrame:
    """Ground metres -> SVG pixels: ``u = pad + (x - x_min) * scale``, ``v = pad + (y_max - y) * scale`` (the
    ground's y axis points up in the picture)."""

    x_min_m: float
    y_max_m: float
    scale_px_per_m: float
    pad_px: float
    width_px: float
    height_px: float

    def uv(self, x_m: float, y_m: float) -> tuple[float, float]:
        return (round(self.pad_px + (x_m - self.x_min_m) * self.scale_px_per_m, 1),
                round(self.pad_px + (self.y_max_m - y_m) * self.scale_px_per_m, 1))

    def points_attr(self, xy_m: Sequence[Sequence[float]]) -> str:
        """An SVG ``points`` attribute for a polygon or polyline given as (x, y) metres."""
        return " ".join("{},{}".format(*self.uv(float(p[0]), float(p[1]))) for p in xy_m)

    def length_px(self, metres: float) -> float:
        return round(metres * self.scale_px_per_m, 2)


def fit_map(points_m: np.ndarray, width_px: float = 800.0, max_height_px: float = 700.0, pad_px: float = 16.0,
            min_span_m: float = 4.0, margin_m: float = 1.0) -> MapFrame:
    """A frame that shows every point of ``points_m`` ((N, 2) metres; non-finite rows ignored) plus ``margin_m``
    at one scale on both axes, at most ``width_px`` x ``max_height_px``; the shown span is at least ``min_span_m``
    each way. Anything drawn outside (a far-reaching field of view) is cut off by the picture's edge."""
    pts = np.asarray(points_m, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        pts = np.zeros((1, 2))
    lo, hi = pts.min(axis=0) - margin_m, pts.max(axis=0) + margin_m
    centre, span = (lo + hi) / 2.0, np.maximum(hi - lo, min_span_m)
    lo, hi = centre - span / 2.0, centre + span / 2.0
    scale = min((width_px - 2 * pad_px) / span[0], (max_height_px - 2 * pad_px) / span[1])
    return MapFrame(float(lo[0]), float(hi[1]), float(scale), pad_px, round(float(span[0] * scale + 2 * pad_px), 1),
                    round(float(span[1] * scale + 2 * pad_px), 1))


def scale_bar_m(frame: MapFrame, target_px: float = 120.0) -> float:
    """A round length in metres (1, 2 or 5 times a power of ten) about ``target_px`` long on the map."""
    raw = target_px / frame.scale_px_per_m
    power = 10.0 ** math.floor(math.log10(raw))
    return min((abs(m * power - raw), m * power) for m in (1.0, 2.0, 5.0, 10.0))[1]


@dataclass(frozen=True)
class TimelineBar:
    row: int          # camera row (cameras sorted by name)
    x_px: float
    width_px: float
    label: str        # camera/local_id and its time span


def timeline_bars(spans: Sequence[tuple[str, int, float, float]], width_px: float,
                  min_width_px: float = 2.0) -> tuple[list[str], list[TimelineBar]]:
    """Rows (camera names, sorted) and one bar per track span ``(camera, local_id, first_ts, last_ts)`` scaled so
    the earliest start is at 0 and the latest end at ``width_px``; bars are at least ``min_width_px`` wide."""
    cameras = sorted({s[0] for s in spans})
    if not spans:
        return cameras, []
    t0 = min(s[2] for s in spans)
    t1 = max(s[3] for s in spans)
    k = width_px / max(t1 - t0, 1e-6)
    bars = []
    for camera, lid, first, last in spans:
        x = (first - t0) * k
        w = max(min_width_px, (last - first) * k)
        bars.append(TimelineBar(cameras.index(camera), round(min(x, width_px - w), 1), round(w, 1),
                                f"{camera}/{lid}: {first:.1f}-{last:.1f} s"))
    return cameras, bars
