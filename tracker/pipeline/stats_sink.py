"""A sink that gathers per-stage times and counts of the finished frames (the replay and bench summaries)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from streams.base import Frame
from tracker.pipeline.camera import STAGES, FrameResult

__all__ = ["FrameStats"]


class FrameStats:
    """Per-stage times and what the frames held, over every frame handed to it.

    Attributes:
        stage_ms: stage -> one time per frame that had the stage (ms); ``stages`` first, in order, then any other
            stage in the order first seen (e.g. "publish").
        frames: camera -> frames.
        local_ids: camera -> the confirmed local track ids seen.
        detections: detections in all frames. track_boxes: confirmed track boxes in all frames.
    """

    def __init__(self, stages: Iterable[str] = STAGES) -> None:
        self.stage_ms: dict[str, list[float]] = {s: [] for s in stages}
        self.frames: Counter[str] = Counter()
        self.local_ids: defaultdict[str, set[int]] = defaultdict(set)
        self.detections = 0
        self.track_boxes = 0

    @property
    def total_frames(self) -> int:
        return sum(self.frames.values())

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        for stage, ms in result.timings_ms.items():
            self.stage_ms.setdefault(stage, []).append(ms)
        self.frames[frame.camera_id] += 1
        self.detections += result.num_detections
        self.track_boxes += len(result.updates)
        self.local_ids[frame.camera_id].update(u.local_id for u in result.updates)

    def close(self, *, completed: bool = True) -> None:
        """Nothing to release: the figures stay readable."""
