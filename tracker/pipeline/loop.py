"""The frame loop: frames of one or more cameras through their :class:`CameraPipeline`, every finished frame to the
sinks (publisher, MOT files, stage timings, annotated video ...).

The live worker, replay, ``mctrack bench`` and the soak test drive it: they get frames from their sources (timing
the reads), ``submit`` them, ``flush`` when nothing will come for a while, and read what their sinks gathered.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from streams.base import Frame
from tracker.pipeline.camera import CameraPipeline, DetectingFrame, FrameResult
from tracker.pipeline.sink import FrameSink, close_all

__all__ = ["FrameLoop", "timed_frames"]

log = logging.getLogger(__name__)


def timed_frames(frames: Iterable[Frame]) -> Iterator[tuple[Frame, float]]:
    """(frame, ms the source took to give it: the decode time of a file source)."""
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        yield frame, (time.perf_counter() - t0) * 1e3


@dataclass
class _Submitted:
    """A frame between ``submit`` and the sinks."""

    frame: Frame
    decode_ms: float | None


class FrameLoop:
    """Takes frames of one or more cameras through their pipelines and hands each finished (frame, result) to every
    sink, in list order, in the order the frames were submitted.

    Scheduling (the results equal frame-by-frame processing: detection does not depend on tracking, and each camera
    is tracked in frame order):

    * detection: up to ``depth`` frames of any camera on the detector at once (the smallest ``max_in_flight`` of the
      pipelines, so a ``StreamingDetector`` shared by the cameras keeps its streams busy and never gets more);
      the oldest frame is taken when that many are started.
    * tracking: detected frames in submission order. With ``overlap_reid`` and ``pipeline.overlap``, a frame's Re-ID
      runs in a worker thread while the next frame is detected; at most one frame (of any camera) waits for it, so
      the sinks still see the frames in submission order.

    Args:
        pipelines: camera id -> its pipeline; a frame goes to ``pipelines[frame.camera_id]``.
        sinks: take every finished frame; a sink may add a stage to ``result.timings_ms`` for the sinks after it.
        overlap_reid: use the pipelines' Re-ID overlap (live worker, bench); False: track each frame as soon as it
            is detected (replay, where a frame's result then comes out as early as it can).
    """

    def __init__(self, pipelines: Mapping[str, CameraPipeline], sinks: Sequence[FrameSink], *,
                 overlap_reid: bool = True) -> None:
        if not pipelines:
            raise ValueError("FrameLoop needs at least one camera pipeline")
        self.pipelines = dict(pipelines)
        self.sinks = list(sinks)
        self.depth = min(p.max_in_flight for p in self.pipelines.values())
        self.frames_done = 0  # frames handed to the sinks
        self._overlap_reid = overlap_reid
        self._detecting: deque[tuple[CameraPipeline, DetectingFrame]] = deque()  # oldest first
        self._submitted: deque[_Submitted] = deque()  # not yet handed to the sinks, oldest first

    def submit(self, frame: Frame, decode_ms: float | None = None) -> None:
        """Start ``frame`` (its camera's next) and hand the frames finished by now to the sinks. ``decode_ms``: how
        long getting the frame took, recorded as its "decode" stage (None: not recorded)."""
        pipe = self._pipeline(frame.camera_id)
        self._submitted.append(_Submitted(frame, decode_ms))
        self._detecting.append((pipe, pipe.start_detect(frame)))
        while len(self._detecting) >= self.depth:
            self._track_oldest()

    def flush(self) -> None:
        """Finish every frame in flight and hand them to the sinks (at the end, or when no frame comes for now)."""
        while self._detecting:
            self._track_oldest()
        for pipe in self.pipelines.values():
            self._emit(pipe.finish_pending())

    def has_frames_in_flight(self) -> bool:
        """Frames submitted but not yet handed to the sinks."""
        return bool(self._submitted)

    def close(self, *, completed: bool = True) -> None:
        """Drop the frames still in flight, stop the pipelines' Re-ID threads and close the sinks (``completed``
        False: the run failed, see :meth:`FrameSink.close`). Call ``flush`` first to keep the frames in flight."""
        try:
            self._drop_detecting()
            for pipe in self.pipelines.values():
                pipe.close()
            self._submitted.clear()
        finally:
            close_all(self.sinks, completed=completed)

    def __enter__(self) -> FrameLoop:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(completed=exc_type is None)

    # ------------------------------------------------------------------------------------------------------
    def _pipeline(self, camera_id: str) -> CameraPipeline:
        pipe = self.pipelines.get(camera_id)
        if pipe is None:
            raise ValueError(f"a frame of camera {camera_id!r} came to a frame loop for cameras "
                             f"{sorted(self.pipelines)}: give the loop a pipeline for every camera it gets frames of")
        return pipe

    def _track_oldest(self) -> None:
        """Finish the oldest frame's detection and take it into its camera's tracking stage."""
        pipe, detecting = self._detecting.popleft()
        detected = pipe.finish_detect(detecting)
        if not self._overlap_reid:
            self._emit([(detected.frame, pipe.track(detected))])
            return
        for other in self.pipelines.values():
            if other is not pipe:
                self._emit(other.finish_pending())  # submitted before this frame: the sinks get it first
        self._emit(pipe.advance(detected))

    def _emit(self, done: list[tuple[Frame, FrameResult]]) -> None:
        for frame, result in done:
            submitted = self._submitted.popleft()
            assert submitted.frame is frame, "frames finish in the order they were submitted"
            if submitted.decode_ms is not None:
                result.timings_ms = {"decode": submitted.decode_ms, **result.timings_ms}
            for sink in self.sinks:
                sink.on_frame(frame, result)
            self.frames_done += 1

    def _drop_detecting(self) -> None:
        """Wait for the detections of the frames still detecting (frees the detector's streams) and drop them."""
        while self._detecting:
            pipe, detecting = self._detecting.popleft()
            try:
                if detecting.pending is not None:
                    detecting.pending.result()
            except Exception as exc:  # noqa: BLE001 - closing: the frame is dropped anyway
                log.debug("camera %s: detection of a dropped frame failed: %s", pipe.camera_id, exc)
