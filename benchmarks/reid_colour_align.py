"""Per-camera colour alignment of Re-ID crops: map each camera's crop colour statistics onto a shared reference.

Used by benchmarks/reid_robustness_study.py; not in the product, because it did not help there (docs/benchmarks.md,
"Re-ID robustness to lighting between cameras"): the hub's per-camera mean subtraction of embeddings already
removes what a colour shift does to the features, and the remapping costs accuracy under darkening, over-exposure
and blur (much more for OSNet than for the OMZ models).

A camera's lighting (darker, over-exposed, a colour cast) shifts and scales the colour distribution of every person
it sees. :class:`CameraColourAligner` keeps running statistics of the Lab channels of the person crops one camera
has embedded (a running mean over its first ``window_crops`` crops, then an exponential moving average with that
horizon) and maps every crop, before resizing, so that the camera's statistics land on a reference that every
camera shares:

* ``moments``: per Lab channel ``y = (x - m_cam) * clip(s_ref / s_cam) + m_ref`` (mean and standard deviation);
* ``histogram``: L by histogram matching of the camera's running L histogram onto a normal distribution with the
  reference mean and deviation, a and b by moments.

The reference is a fixed constant (person crops of well-lit cameras), so cameras need not talk to each other. One
aligner serves one camera; it is not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = ["ColourReference", "RunningColourStats", "moment_luts", "histogram_lut", "CameraColourAligner",
           "ColourAlignMode"]

ColourAlignMode = Literal["moments", "histogram"]
_LEVELS = 256
_STATS_SIZE_WH = (16, 32)  # crops are measured on a (32, 16) downscale: the moments barely change, the cost drops
_MIN_STD = 1.0


@dataclass(frozen=True)
class ColourReference:
    """The shared target: (3,) mean and (3,) standard deviation of OpenCV 8-bit Lab (L, a, b; 0..255)."""

    mean_lab: tuple[float, float, float]
    std_lab: tuple[float, float, float]


class RunningColourStats:
    """Running per-channel mean / variance and L histogram of one camera's crops.

    A plain running average over the first ``window_crops`` crops, then an exponential moving average with weight
    ``1 / window_crops`` per crop (horizon about ``window_crops`` crops), so the statistics follow slow lighting
    changes and one person does not dominate once the camera has seen several.
    """

    def __init__(self, window_crops: int) -> None:
        if window_crops < 1:
            raise ValueError(f"window_crops must be >= 1, got {window_crops}")
        self.window_crops = int(window_crops)
        self.count = 0
        self.mean = np.zeros(3, np.float64)
        self.second = np.zeros(3, np.float64)
        self.hist_l = np.zeros(_LEVELS, np.float64)

    def update(self, lab_pixels: np.ndarray) -> None:
        """Fold one crop in: lab_pixels (P, 3) Lab values 0..255 (any numeric dtype), P > 0."""
        px = np.asarray(lab_pixels, np.float64).reshape(-1, 3)
        self.count += 1
        w = 1.0 / min(self.count, self.window_crops)
        self.mean += w * (px.mean(axis=0) - self.mean)
        self.second += w * ((px * px).mean(axis=0) - self.second)
        hist = np.bincount(np.clip(px[:, 0], 0, _LEVELS - 1).astype(np.int64), minlength=_LEVELS) / len(px)
        self.hist_l += w * (hist - self.hist_l)

    @property
    def std(self) -> np.ndarray:
        """(3,) standard deviation per channel (0 before the first crop)."""
        return np.sqrt(np.maximum(self.second - self.mean * self.mean, 0.0))


def moment_luts(mean: np.ndarray, std: np.ndarray, reference: ColourReference, max_gain: float) -> np.ndarray:
    """Per-channel lookup tables that move (3,) mean / std onto the reference's.

    ``y = (x - mean) * g + ref_mean`` with ``g = ref_std / std`` clipped to [1 / max_gain, max_gain], rounded and
    clipped to 0..255.

    Returns:
        (3, 256) uint8; row c maps channel c's 8-bit values.
    """
    x = np.arange(_LEVELS, dtype=np.float64)[None, :]
    ref_mean = np.asarray(reference.mean_lab, np.float64)[:, None]
    ref_std = np.asarray(reference.std_lab, np.float64)[:, None]
    gain = np.clip(ref_std / np.maximum(np.asarray(std, np.float64)[:, None], _MIN_STD), 1.0 / max_gain, max_gain)
    y = (x - np.asarray(mean, np.float64)[:, None]) * gain + ref_mean
    return np.clip(np.rint(y), 0, _LEVELS - 1).astype(np.uint8)


def histogram_lut(hist: np.ndarray, ref_mean: float, ref_std: float) -> np.ndarray:
    """Lookup table that maps values distributed as ``hist`` (256,) onto a normal(ref_mean, ref_std) clipped to
    0..255 (histogram matching: each level goes to the reference quantile of its mid-bin CDF).

    Returns:
        (256,) uint8.
    """
    h = np.asarray(hist, np.float64)
    total = h.sum()
    if total <= 0:
        return np.arange(_LEVELS, dtype=np.uint8)
    cdf = np.cumsum(h) / total
    mid_cdf = np.clip(cdf - 0.5 * h / total, 1e-6, 1.0 - 1e-6)
    from scipy.special import ndtri

    y = ref_mean + ref_std * ndtri(mid_cdf)
    return np.clip(np.rint(y), 0, _LEVELS - 1).astype(np.uint8)


class CameraColourAligner:
    """A ``CropTransform`` (BGR uint8 crop -> BGR uint8 crop) for one camera: measure the crop, update the camera's
    running statistics, map the crop onto the reference.

    Args:
        reference: the shared target statistics.
        mode: ``moments`` (mean / std per Lab channel) or ``histogram`` (L histogram-matched, a and b by moments).
        window_crops: horizon of the running statistics, in crops.
        max_gain: the most a channel's contrast is stretched or squeezed (>= 1).
    """

    def __init__(self, reference: ColourReference, mode: ColourAlignMode = "moments", window_crops: int = 500,
                 max_gain: float = 2.0) -> None:
        if mode not in ("moments", "histogram"):
            raise ValueError(f"colour alignment mode {mode!r}: use moments or histogram")
        if max_gain < 1.0:
            raise ValueError(f"max_gain must be >= 1, got {max_gain}")
        self.reference = reference
        self.mode: ColourAlignMode = mode
        self.max_gain = float(max_gain)
        self.stats = RunningColourStats(window_crops)
        self._luts: np.ndarray | None = None
        self._luts_count = -1

    def current_luts(self) -> np.ndarray:
        """(3, 256) uint8 tables for the statistics so far (identity before any crop)."""
        if self._luts is not None and self._luts_count == self.stats.count:
            return self._luts
        if self.stats.count == 0:
            luts = np.tile(np.arange(_LEVELS, dtype=np.uint8), (3, 1))
        else:
            luts = moment_luts(self.stats.mean, self.stats.std, self.reference, self.max_gain)
            if self.mode == "histogram":
                luts[0] = histogram_lut(self.stats.hist_l, self.reference.mean_lab[0], self.reference.std_lab[0])
        self._luts, self._luts_count = luts, self.stats.count
        return luts

    def __call__(self, crop_bgr: np.ndarray) -> np.ndarray:
        """(h, w, 3) uint8 BGR -> (h, w, 3) uint8 BGR, a new array."""
        lab = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2Lab)
        small = cv2.resize(lab, _STATS_SIZE_WH, interpolation=cv2.INTER_AREA)
        self.stats.update(small.reshape(-1, 3))
        luts = self.current_luts()
        for c in range(3):
            lab[..., c] = luts[c][lab[..., c]]
        return cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)

    def __repr__(self) -> str:
        return (f"CameraColourAligner({self.mode}, window_crops={self.stats.window_crops}, "
                f"max_gain={self.max_gain}, crops={self.stats.count})")
