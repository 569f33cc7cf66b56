"""Boxes of earlier frames that a camera's tracker writes late, with their frames' times.

The tracker knows frames by index; the MOT files need only that, but the hub's trajectories are ordered by time.
``RecentFrameTimes`` remembers the times of the last frames the pipeline processed, and ``late_boxes`` turns the
tracker's late records (a newly confirmed track's tentative boxes, a track's filled gap) into
:class:`tracker.core.tracklet.LateBox` rows: the one list both the MOT file and the hub get.
"""

from __future__ import annotations

from collections import deque

from tracker.core.track import BoxRecord
from tracker.core.tracklet import LateBox

__all__ = ["RecentFrameTimes", "late_boxes"]


class RecentFrameTimes:
    """The times (s) of the last ``keep_frames`` frame indices seen (frames come in increasing index order).

    A frame the source skipped (a live camera dropping frames) gets a time interpolated linearly between the
    nearest frames seen around it.
    """

    def __init__(self, keep_frames: int) -> None:
        self._keep = max(1, int(keep_frames))
        self._frames: deque[tuple[int, float]] = deque()

    def add(self, frame_index: int, timestamp_s: float) -> None:
        self._frames.append((int(frame_index), float(timestamp_s)))
        while self._frames[0][0] < frame_index - self._keep:
            self._frames.popleft()

    def time_of(self, frame_index: int) -> float:
        """The time of ``frame_index``: as seen, interpolated between the frames seen around it, or the oldest /
        newest time kept when it lies outside them. Raises ValueError before any frame was added."""
        if not self._frames:
            raise ValueError("no frame time is known yet")
        before = after = None
        for f, ts in self._frames:
            if f == frame_index:
                return ts
            if f < frame_index:
                before = (f, ts)
            elif after is None:
                after = (f, ts)
        if before is None or after is None:
            return (before or after or self._frames[0])[1]
        w = (frame_index - before[0]) / (after[0] - before[0])
        return before[1] + w * (after[1] - before[1])


def late_boxes(records: list[tuple[int, BoxRecord]], times: RecentFrameTimes) -> list[LateBox]:
    """(local id, record) pairs of the tracker -> late boxes with their frames' times, in the given order."""
    return [LateBox(track_id, rec.frame_index, times.time_of(rec.frame_index), rec.xyxy, rec.confidence)
            for track_id, rec in records]
