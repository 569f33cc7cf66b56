"""Small protocols that keep I/O and models at the edges of the tracking core."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from tracker.detections import Detections

__all__ = ["Detector", "Embedder"]


@runtime_checkable
class Detector(Protocol):
    """Finds people in a BGR image."""

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """image_bgr: (H, W, 3) uint8. Returns detections without embeddings."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns person crops into L2-normalised appearance features."""

    @property
    def dim(self) -> int:
        """Feature length D."""
        ...

    def embed(self, image_bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """image_bgr: (H, W, 3) uint8; xyxy: (N, 4) boxes. Returns (N, D) float32, rows L2-normalised
        (a zero row for a box that cannot be embedded)."""
        ...
