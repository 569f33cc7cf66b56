"""Ground-plane evidence: a track's bounded position history and the distances between two tracks' histories.

Positions are metres on a ground plane all calibrated cameras share; each comes with a 2x2 covariance in m^2 (its
uncertainty, growing with the distance from the camera). Two tracks of one person seen at the same time by
overlapping cameras stand in the same place over their whole shared time, so :func:`shared_span` compares them
sample by sample over that span (a median, not one close frame: two people passing each other come close once).
Two tracks one after the other must be reachable on foot from the end of one to the start of the other (both
summarised robustly, :meth:`GroundHistory.head` / :meth:`GroundHistory.tail`): :func:`travel_infeasible`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GroundHistory", "SharedSpan", "shared_span", "travel_infeasible", "mahalanobis_2d"]

# Sample intervals are numbered floor(ts / interval + _BIN_EPS): frame times such as 4.8 s at 0.2 s land in
# interval 24, not 23 (4.8 / 0.2 = 23.999...).
_BIN_EPS = 1e-6


class GroundHistory:
    """A track's ground positions, one sample per ``interval_s`` of camera time (positions falling in one interval
    are averaged), the last ``horizon_s`` kept.

    Arrays (views, oldest first): ``ts`` (n,) seconds, ``xy`` (n, 2) metres, ``cov`` (n, 2, 2) m^2.
    """

    def __init__(self, interval_s: float, horizon_s: float) -> None:
        if not interval_s > 0 or not horizon_s > 0:
            raise ValueError(f"ground history interval_s {interval_s!r} and horizon_s {horizon_s!r} must be "
                             f"positive")
        self.interval_s = float(interval_s)
        self.horizon_s = float(horizon_s)
        cap = int(math.ceil(self.horizon_s / self.interval_s)) + 2
        self._cap = cap
        self._ts = np.zeros(2 * cap, np.float64)
        self._xy = np.zeros((2 * cap, 2), np.float64)
        self._cov = np.zeros((2 * cap, 2, 2), np.float64)
        self._count = np.zeros(2 * cap, np.int64)
        self._bin = np.zeros(2 * cap, np.int64)
        self._start = 0
        self._end = 0
        self.added = 0  # samples ever started (a growing count for "new evidence since")

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def ts(self) -> np.ndarray:
        return self._ts[self._start:self._end]

    @property
    def xy(self) -> np.ndarray:
        return self._xy[self._start:self._end]

    @property
    def cov(self) -> np.ndarray:
        return self._cov[self._start:self._end]

    def add(self, ts: float, xy: np.ndarray, cov: np.ndarray) -> None:
        """One position (2,) metres with covariance (2, 2) m^2 at camera time ``ts``. Positions older than the
        newest sample's interval are ignored (out of order)."""
        b = int(math.floor(ts / self.interval_s + _BIN_EPS))
        if len(self) and b < self._bin[self._end - 1]:
            return
        if len(self) and b == self._bin[self._end - 1]:
            i = self._end - 1
            n = self._count[i] + 1
            self._ts[i] += (ts - self._ts[i]) / n
            self._xy[i] += (np.asarray(xy, np.float64) - self._xy[i]) / n
            self._cov[i] += (np.asarray(cov, np.float64) - self._cov[i]) / n
            self._count[i] = n
            return
        if self._end == len(self._ts):
            n = len(self)
            for a in (self._ts, self._xy, self._cov, self._count, self._bin):
                a[:n] = a[self._start:self._end]
            self._start, self._end = 0, n
        i = self._end
        self._ts[i], self._xy[i], self._cov[i] = ts, xy, cov
        self._count[i], self._bin[i] = 1, b
        self._end += 1
        self.added += 1
        horizon = ts - self.horizon_s
        while self._start < self._end - 1 and (self._ts[self._start] < horizon
                                                or self._end - self._start > self._cap):
            self._start += 1

    def head(self, window_s: float) -> tuple[float, np.ndarray, float]:
        """The track's start, robustly: (median time s, median position (2,) m, variance m^2) of the samples within
        ``window_s`` of the oldest; the variance is their mean isotropic variance plus their mean squared distance
        from the median (a start that jumps about -- a box cut by an occluder -- is uncertain)."""
        n = int(np.searchsorted(self.ts, self.ts[0] + window_s, side="right")) if len(self) else 0
        return self._summary(self._start, self._start + max(n, 1))

    def tail(self, window_s: float) -> tuple[float, np.ndarray, float]:
        """The track's end, robustly (as :meth:`head`, over the samples within ``window_s`` of the newest)."""
        n = len(self) - int(np.searchsorted(self.ts, self.ts[-1] - window_s, side="left")) if len(self) else 0
        return self._summary(self._end - max(n, 1), self._end)

    def _summary(self, i0: int, i1: int) -> tuple[float, np.ndarray, float]:
        xy = self._xy[i0:i1]
        med = np.median(xy, axis=0)
        var = 0.5 * float(np.mean(self._cov[i0:i1, 0, 0] + self._cov[i0:i1, 1, 1]))
        scatter = float(np.mean(np.sum((xy - med) ** 2, axis=1))) if i1 - i0 > 1 else 0.0
        return float(np.median(self._ts[i0:i1])), med, var + scatter

    def first(self) -> tuple[float, np.ndarray, float]:
        """(time s, position (2,) m, isotropic variance m^2) of the oldest sample; the history must not be empty."""
        i = self._start
        return float(self._ts[i]), self._xy[i], 0.5 * float(self._cov[i, 0, 0] + self._cov[i, 1, 1])

    def last(self) -> tuple[float, np.ndarray, float]:
        """(time s, position (2,) m, isotropic variance m^2) of the newest sample; the history must not be empty."""
        i = self._end - 1
        return float(self._ts[i]), self._xy[i], 0.5 * float(self._cov[i, 0, 0] + self._cov[i, 1, 1])


@dataclass(frozen=True)
class SharedSpan:
    """Two tracks compared over their shared time: ``n`` samples covering ``duration_s``; the median per-sample
    distance in metres (``median_m``) and in standard deviations of the combined uncertainty (``sigmas``). The
    median over the whole span, not one close frame: two people who pass each other are close only briefly, and
    a few samples of a box cut by an occluder do not decide either."""

    n: int
    duration_s: float
    median_m: float
    sigmas: float


_NO_SPAN = SharedSpan(0, 0.0, math.nan, math.nan)


def mahalanobis_2d(d: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Mahalanobis lengths sqrt(d^T cov^-1 d) of displacements d (n, 2) under covariances cov (n, 2, 2)."""
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    det = np.maximum(a * c - b * b, 1e-12)
    q = (c * d[:, 0] ** 2 - 2 * b * d[:, 0] * d[:, 1] + a * d[:, 1] ** 2) / det
    return np.sqrt(np.maximum(q, 0.0))


def shared_span(a: GroundHistory, b: GroundHistory, floor_var_m2: float, max_gap_s: float,
                recent_s: float | None = None) -> SharedSpan:
    """Compare ``a`` with ``b`` at a's sample times inside b's span (b linearly interpolated between samples at
    most ``max_gap_s`` apart); ``recent_s``: only over the last this much of their shared time. Each sample's
    combined covariance is a's plus b's plus ``floor_var_m2`` per track on the diagonal (calibration error, and
    the foot point differing between views)."""
    if not len(a) or not len(b):
        return _NO_SPAN
    ta, tb = a.ts, b.ts
    sel = (ta >= tb[0]) & (ta <= tb[-1])
    if recent_s is not None and sel.any():
        sel &= ta >= ta[sel][-1] - recent_s + 0.5 * a.interval_s
    if not sel.any():
        return _NO_SPAN
    t = ta[sel]
    j1 = np.clip(np.searchsorted(tb, t, side="left"), 0, len(tb) - 1)
    j0 = np.maximum(j1 - 1, 0)
    exact = tb[j1] == t
    j0 = np.where(exact, j1, j0)
    span = tb[j1] - tb[j0]
    ok = exact | (span <= max_gap_s)
    if not ok.any():
        return _NO_SPAN
    t, j0, j1, span = t[ok], j0[ok], j1[ok], span[ok]
    w = np.where(span > 0, (t - tb[j0]) / np.where(span > 0, span, 1.0), 0.0)
    bxy = b.xy[j0] * (1 - w)[:, None] + b.xy[j1] * w[:, None]
    bcov = b.cov[j0] * (1 - w)[:, None, None] + b.cov[j1] * w[:, None, None]
    d = a.xy[sel][ok] - bxy
    cov = a.cov[sel][ok] + bcov + np.eye(2) * (2.0 * floor_var_m2)
    sig = mahalanobis_2d(d, cov)
    return SharedSpan(len(t), len(t) * a.interval_s, float(np.median(np.hypot(d[:, 0], d[:, 1]))),
                      float(np.median(sig)))


def travel_infeasible(gap_s: np.ndarray, dist_m: np.ndarray, var_m2: np.ndarray, max_speed_mps: float,
                      margin_sigmas: float) -> np.ndarray:
    """Whether covering ``dist_m`` in ``gap_s`` needs more than ``max_speed_mps``, after forgiving
    ``margin_sigmas`` standard deviations of the positions' combined variance ``var_m2`` (arrays broadcast)."""
    return dist_m - margin_sigmas * np.sqrt(np.maximum(var_m2, 0.0)) > max_speed_mps * np.maximum(gap_s, 0.0)
