"""Typed container for per-frame detections, passed across module boundaries instead of tuples/dicts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Detections"]


def _empty_embeddings() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass
class Detections:
    """N person detections of one frame.

    Attributes:
        xyxy: (N, 4) float32, left, top, right, bottom in image pixels.
        confidence: (N,) float32 detector scores in [0, 1].
        embeddings: (N, D) float32 L2-normalised Re-ID features, or (N, 0)/(0, 0) when not computed.
            A row of zeros means "no embedding for this detection" (e.g. crop too small).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    embeddings: np.ndarray = field(default_factory=_empty_embeddings)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if len(self.confidence) != len(self.xyxy):
            raise ValueError(f"Detections: {len(self.xyxy)} boxes but {len(self.confidence)} scores")
        self.embeddings = np.asarray(self.embeddings, dtype=np.float32)
        if self.embeddings.size and self.embeddings.shape[0] != len(self.xyxy):
            raise ValueError(f"Detections: {len(self.xyxy)} boxes but {self.embeddings.shape[0]} embeddings")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    @property
    def has_embeddings(self) -> bool:
        return self.embeddings.ndim == 2 and self.embeddings.shape[0] == len(self) and self.embeddings.shape[1] > 0

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        emb = self.embeddings[index] if self.has_embeddings else _empty_embeddings()
        return Detections(self.xyxy[index], self.confidence[index], emb)

    def with_embeddings(self, embeddings: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, embeddings)
