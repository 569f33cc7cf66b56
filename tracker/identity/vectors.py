"""Unit vectors: embeddings are compared by the cosine similarity of L2-normalised rows."""

from __future__ import annotations

import numpy as np

__all__ = ["NORM_EPS", "l2_normalize"]

#: Vectors shorter than this count as zero (no feature).
NORM_EPS = 1e-12


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit length; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norms > NORM_EPS, x / np.maximum(norms, NORM_EPS), 0.0).astype(np.float32)

