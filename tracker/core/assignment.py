"""Hungarian assignment with a cost threshold, and DeepSORT's matching cascade (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.core.costs import INFEASIBLE

__all__ = ["Matches", "linear_assignment", "matching_cascade"]

Matches = tuple[list[tuple[int, int]], list[int], list[int]]
"""(matched (row, col) pairs, unmatched rows, unmatched cols) in the caller's index space."""


def linear_assignment(cost: np.ndarray, max_cost: float, rows: Sequence[int] | None = None,
                      cols: Sequence[int] | None = None) -> Matches:
    """Minimum-cost assignment over ``cost[rows][:, cols]``; pairs costing more than ``max_cost`` (or
    INFEASIBLE) are left unmatched.

    cost: (N, M). rows/cols: subsets of indices to consider (default all). Returned indices are into ``cost``.
    """
    whole = rows is None and cols is None
    rows = list(range(cost.shape[0])) if rows is None else list(rows)
    cols = list(range(cost.shape[1])) if cols is None else list(cols)
    if not rows or not cols:
        return [], rows, cols
    sub = cost if whole else cost[rows][:, cols]
    r_idx, c_idx = linear_sum_assignment(sub)
    pair_cost = sub[r_idx, c_idx]
    keep = (pair_cost <= max_cost) & (pair_cost < INFEASIBLE)
    matches = [(rows[r], cols[c]) for r, c in zip(r_idx[keep].tolist(), c_idx[keep].tolist())]
    matched_r = {r for r, _ in matches}
    matched_c = {c for _, c in matches}
    return (matches, [r for r in rows if r not in matched_r], [c for c in cols if c not in matched_c])


def matching_cascade(cost: np.ndarray, max_cost: float, track_ages: Sequence[int], max_level: int,
                     rows: Sequence[int] | None = None, cols: Sequence[int] | None = None,
                     assign: Callable[..., Matches] = linear_assignment) -> Matches:
    """DeepSORT's cascade: tracks seen most recently (``track_ages`` = frames since last update, 1 = seen in
    the previous frame) choose first, level by level up to ``max_level``.
    """
    rows = list(range(cost.shape[0])) if rows is None else list(rows)
    cols = list(range(cost.shape[1])) if cols is None else list(cols)
    unmatched_cols = list(cols)
    matches: list[tuple[int, int]] = []
    for level in range(1, max_level + 1):
        if not unmatched_cols:
            break
        level_rows = [r for r in rows if track_ages[r] == level]
        if not level_rows:
            continue
        m, _, unmatched_cols = assign(cost, max_cost, level_rows, unmatched_cols)
        matches += m
    matched_rows = {r for r, _ in matches}
    return matches, [r for r in rows if r not in matched_rows], unmatched_cols
