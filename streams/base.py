"""The FrameSource protocol and the Frame record every source yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from streams.stats import SourceStats

__all__ = ["Frame", "FrameSource", "SourceError"]


class SourceError(RuntimeError):
    """A video source cannot be opened or read; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        camera_id: the camera's name.
        index: 1-based frame index (for files and image folders: the position in the file, so it matches
            MOTChallenge ground truth; for live streams: frames received since the worker started).
        timestamp_s: seconds; media time for files (index-1)/fps, wall clock (time.time()) for live streams.
        image: (H, W, 3) uint8 BGR.
    """

    camera_id: str
    index: int
    timestamp_s: float
    image: np.ndarray


@runtime_checkable
class FrameSource(Protocol):
    """Yields frames of one camera. Iterate it; close it when done (or use it as a context manager)."""

    camera_id: str

    @property
    def fps(self) -> float:
        """Nominal frames per second (0 if unknown)."""
        ...

    def __iter__(self) -> Iterator[Frame]: ...

    def stats(self) -> SourceStats:
        """Frames read and dropped, reconnects, last error (for heartbeats and metrics)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...
