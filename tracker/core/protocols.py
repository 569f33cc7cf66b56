"""Small protocols that keep I/O and models at the edges of the tracking core."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from tracker.core.detections import Detections

__all__ = ["Detector", "Embedder", "PendingDetections", "StreamingDetector"]


@runtime_checkable
class Detector(Protocol):
    """Finds people in a BGR image."""

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """image_bgr: (H, W, 3) uint8. Returns detections without embeddings."""
        ...


@runtime_checkable
class PendingDetections(Protocol):
    """A frame a ``StreamingDetector`` is working on."""

    def result(self) -> Detections:
        """Wait for the frame's detections and return them (call once)."""
        ...


@runtime_checkable
class StreamingDetector(Detector, Protocol):
    """A detector that works on up to ``max_in_flight`` frames at once (e.g. on several inference streams)."""

    max_in_flight: int

    def start(self, image_bgr: np.ndarray) -> PendingDetections:
        """Start detecting people in image_bgr (H, W, 3) uint8. Take results in the order frames were started,
        with at most ``max_in_flight`` pending."""
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
