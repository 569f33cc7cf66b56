"""Where finished frames go: the :class:`FrameSink` protocol, and a router that gives each camera its own sink."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from streams.base import Frame
from tracker.pipeline.camera import FrameResult

__all__ = ["FrameSink", "PerCamera", "close_all"]


class FrameSink(Protocol):
    """Takes every frame a :class:`tracker.pipeline.loop.FrameLoop` finishes, in the order the frames were
    submitted (so each camera's frames in frame order)."""

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        """One finished frame. ``result.timings_ms`` is stage -> ms; a sink may add its own stage (e.g. "publish")
        for the sinks after it."""
        ...

    def close(self, *, completed: bool = True) -> None:
        """No frame will come any more. ``completed`` False: the run failed; discard output that only makes sense
        whole (a half-written file)."""
        ...


class PerCamera:
    """Routes each frame to its camera's sink (``frame.camera_id``); frames of other cameras are ignored."""

    def __init__(self, sinks: Mapping[str, FrameSink]) -> None:
        self.sinks = dict(sinks)

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        sink = self.sinks.get(frame.camera_id)
        if sink is not None:
            sink.on_frame(frame, result)

    def close(self, *, completed: bool = True) -> None:
        close_all(self.sinks.values(), completed=completed)


def close_all(sinks: Iterable[FrameSink], *, completed: bool) -> None:
    """Closes every sink, even when one fails; the first error is raised after all are closed."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close(completed=completed)
        except BaseException as exc:  # noqa: BLE001 - close the others, then raise
            error = error or exc
    if error is not None:
        raise error
