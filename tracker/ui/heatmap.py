"""Occupancy on the ground plane (the footfall view): ground positions binned into square cells."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Occupancy", "occupancy_grid"]


@dataclass(frozen=True)
class Occupancy:
    """Counts of position samples per cell.

    Attributes:
        origin_m: (x, y) of the grid's lower-left corner in metres (a multiple of ``cell_m``).
        cell_m: side of a cell in metres.
        counts: (rows, cols) int64; ``counts[j, i]`` covers x in [x0 + i*cell, x0 + (i+1)*cell), y likewise with j.
    """

    origin_m: tuple[float, float]
    cell_m: float
    counts: np.ndarray

    @property
    def peak(self) -> int:
        return int(self.counts.max()) if self.counts.size else 0

    def cells(self) -> list[tuple[float, float, int]]:
        """Non-empty cells as (x_m, y_m of the cell's lower-left corner, count)."""
        js, is_ = np.nonzero(self.counts)
        x0, y0 = self.origin_m
        return [(x0 + float(i) * self.cell_m, y0 + float(j) * self.cell_m, int(self.counts[j, i]))
                for j, i in zip(js, is_)]


def occupancy_grid(points_m: np.ndarray, cell_m: float, max_cells: int = 250_000) -> Occupancy:
    """Bin ground points into cells of ``cell_m`` metres aligned on multiples of ``cell_m`` (so grids of two time
    windows line up).

    Args:
        points_m: (N, 2) x, y in metres; non-finite rows are ignored.
        cell_m: cell side in metres (> 0).
        max_cells: the grid is coarsened (cell side doubled) until it has at most this many cells.
    Returns:
        The occupancy; an empty (0, 0) grid when there are no points.
    """
    if not cell_m > 0:
        raise ValueError(f"cell size must be > 0 metres, got {cell_m}")
    pts = np.asarray(points_m, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return Occupancy((0.0, 0.0), float(cell_m), np.zeros((0, 0), np.int64))
    cell = float(cell_m)
    while True:
        lo = np.floor(pts.min(axis=0) / cell)
        hi = np.floor(pts.max(axis=0) / cell)
        cols, rows = int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1
        if cols * rows <= max_cells:
            break
        cell *= 2.0
    idx = (np.floor(pts / cell) - lo).astype(np.int64)
    counts = np.zeros((rows, cols), np.int64)
    np.add.at(counts, (idx[:, 1], idx[:, 0]), 1)
    origin = (float(lo[0] * cell), float(lo[1] * cell))
    assert math.isfinite(origin[0]) and math.isfinite(origin[1])
    return Occupancy(origin, cell, counts)
