"""Writes a camera's track boxes as MOTChallenge rows, tolerating rows that arrive a few frames late
(boxes of a tentative track written once it is confirmed, boxes filled in over a track's gap)."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

from streams.base import Frame
from tracker.core.boxes import xyxy_to_tlwh
from tracker.offline.motio import MotWriter
from tracker.pipeline.camera import FrameResult

__all__ = ["MotSink"]


class MotSink:
    """One camera's MOT file, written from its finished frames (a :class:`tracker.pipeline.sink.FrameSink`).

    Buffers the last ``max_delay_frames`` frames and streams older ones to a :class:`MotWriter`, so memory stays
    bounded on long replays while backfilled rows still land in frame order. The file appears at ``close`` (none
    after a failed run).

    Args:
        path: the MOT file. max_delay_frames: how late a row may come (``MultiObjectTracker.max_late_frames``).
    """

    def __init__(self, path: str | os.PathLike[str], max_delay_frames: int) -> None:
        self._writer = MotWriter(path)
        self._max_delay = max(0, int(max_delay_frames))
        self._frames: dict[int, dict[int, tuple[np.ndarray, float]]] = defaultdict(dict)
        self._flushed_up_to = 0

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        """The frame's confirmed tracks and the boxes of earlier frames known only now (``FrameResult.late``)."""
        for box in result.late:
            self.add(box.frame_index, box.local_id, box.xyxy, box.confidence)
        for u in result.updates:
            self.add(u.frame_index, u.local_id, u.xyxy, u.confidence)
        self.advance(frame.index)

    def add(self, frame_index: int, track_id: int, xyxy: np.ndarray, confidence: float) -> None:
        """xyxy: (4,) box. A row older than the flushed horizon is dropped (cannot happen within the delay)."""
        if frame_index <= self._flushed_up_to:
            return
        self._frames[frame_index].setdefault(track_id, (np.asarray(xyxy, dtype=np.float64), float(confidence)))

    def advance(self, current_frame: int) -> None:
        """Flush every buffered frame older than ``current_frame - max_delay_frames``."""
        horizon = current_frame - self._max_delay - 1
        for f in sorted(k for k in self._frames if k <= horizon):
            self._flush(f)
        self._flushed_up_to = max(self._flushed_up_to, horizon)

    def close(self, *, completed: bool = True) -> None:
        """Write the buffered frames and move the file into place; ``completed`` False: discard it instead."""
        if not completed:
            self._writer.abort()
            return
        for f in sorted(self._frames):
            self._flush(f)
        self._writer.close()

    def _flush(self, frame_index: int) -> None:
        for track_id, (xyxy, conf) in sorted(self._frames.pop(frame_index).items()):
            self._writer.write(frame_index, track_id, xyxy_to_tlwh(xyxy).tolist(), conf)
