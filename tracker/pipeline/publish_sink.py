"""A sink that publishes each finished frame's tracks (to the camera's Redis stream, for the hub)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from streams.base import Frame
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.pipeline.camera import FrameResult

__all__ = ["FramePublisher", "PublishSink"]


class FramePublisher(Protocol):
    """One camera's publisher, e.g. :class:`tracker.bus.publisher.TrackletPublisher`."""

    def publish(self, updates: list[TrackletUpdate], image_bgr: np.ndarray | None = None, *,
                frame_index: int | None = None, timestamp_s: float | None = None,
                late: Sequence[LateBox] = ()) -> None:
        """One frame's confirmed-track updates; ``image_bgr`` (H, W, 3) uint8 for thumbnails; ``late``: boxes of
        earlier frames known only now (for the hub's trajectories)."""
        ...


class PublishSink:
    """Publishes every frame's updates and records the time it took as the frame's "publish" stage (ms), for the
    sinks after this one (stage timings, metrics). One camera: the publisher writes to that camera's stream."""

    def __init__(self, publisher: FramePublisher) -> None:
        self.publisher = publisher

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        t0 = time.perf_counter()
        self.publisher.publish(result.updates, frame.image, frame_index=frame.index, timestamp_s=frame.timestamp_s,
                               late=result.late)
        result.timings_ms["publish"] = (time.perf_counter() - t0) * 1e3

    def close(self, *, completed: bool = True) -> None:
        """Nothing to release: the publisher (and its outbox) belongs to the caller."""
