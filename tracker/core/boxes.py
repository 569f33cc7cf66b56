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
    out = np.empty(xyxy.shape)
    out[..., 0] = xyxy[..., 0] + w / 2
    out[..., 1] = xyxy[..., 1] + h / 2
    out[..., 2] = w / np.maximum(h, _EPS)
    out[..., 3] = h
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(..., 4) xyah -> (..., 4) xyxy."""
    xyah = np.asarray(xyah, dtype=np.float64)
    if xyah.ndim == 1:  # fast path for one box
        cx, cy, a, h1 = xyah.tolist()
        w1 = a * h1
        return np.array([cx - w1 / 2, cy - h1 / 2, cx + w1 / 2, cy + h1 / 2])
    half_h = xyah[..., 3] / 2
    half_w = xyah[..., 2] * xyah[..., 3] / 2
    out = np.empty(xyah.shape)
    out[..., 0] = xyah[..., 0] - half_w
    out[..., 1] = xyah[..., 1] - half_h
    out[..., 2] = xyah[..., 0] + half_w
    out[..., 3] = xyah[..., 1] + half_h
    return out


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
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4]  # (N, 1) each
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]  # (M,) each
    inter_w = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    inter_h = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    inter = np.maximum(inter_w, 0.0, out=inter_w) * np.maximum(inter_h, 0.0, out=inter_h)  # (N, M)
    area_a = np.maximum(ax2 - ax1, 0.0) * np.maximum(ay2 - ay1, 0.0)
    area_b = np.maximum(bx2 - bx1, 0.0) * np.maximum(by2 - by1, 0.0)
    union = area_a + area_b - inter
    return inter / np.maximum(union, _EPS, out=union)
