"""Box format conversions and IoU. Formats are in the names:

- ``xyxy``: left, top, right, bottom
- ``tlwh``: left, top, width, height (MOTChallenge)
- ``xyah``: centre x, centre y, aspect ratio (width / height), height (DeepSORT's Kalman measurement)
"""

from __future__ import annotations

import numpy as np

__all__ = ["xyxy_to_xyah", "xyah_to_xyxy", "xyxy_to_tlwh", "tlwh_to_xyxy", "iou_matrix"]

_EPS = 1e-9


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (..., 4) xyah."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    if xyxy.ndim == 1:  # fast path for one box (per-track updates)
        x1, y1, x2, y2 = xyxy.tolist()
        w, h = x2 - x1, y2 - y1
        return np.array([x1 + w / 2, y1 + h / 2, w / max(h, _EPS), h])
    w = xyxy[..., 2] - xyxy[..., 0]
    h = xyxy[..., 3] - xyxy[..., 1]
    return np.stack([xyxy[..., 0] + w / 2, xyxy[..., 1] + h / 2, w / np.maximum(h, _EPS), h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(..., 4) xyah -> (..., 4) xyxy."""
    xyah = np.asarray(xyah, dtype=np.float64)
    if xyah.ndim == 1:  # fast path for one box
        cx, cy, a, h1 = xyah.tolist()
        w1 = a * h1
        return np.array([cx - w1 / 2, cy - h1 / 2, cx + w1 / 2, cy + h1 / 2])
    h = xyah[..., 3]
    w = xyah[..., 2] * h
    return np.stack([xyah[..., 0] - w / 2, xyah[..., 1] - h / 2, xyah[..., 0] + w / 2, xyah[..., 1] + h / 2], axis=-1)


def xyxy_to_tlwh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64)
    out = xyxy.copy()
    out[..., 2:] = xyxy[..., 2:] - xyxy[..., :2]
    return out


def tlwh_to_xyxy(tlwh: np.ndarray) -> np.ndarray:
    tlwh = np.asarray(tlwh, dtype=np.float64)
    out = tlwh.copy()
    out[..., 2:] = tlwh[..., :2] + tlwh[..., 2:]
    return out


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU. a: (N, 4), b: (M, 4) xyxy -> (N, M) in [0, 1]."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, _EPS)
