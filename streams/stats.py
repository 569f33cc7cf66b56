"""SourceStats: what a video source has done so far (for logs, metrics and health checks)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SourceStats"]


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of one source's counters.

    Attributes:
        frames_read: frames decoded from the source (delivered or not).
        frames_dropped: frames decoded but never delivered because a newer one replaced them (live streams and
            realtime replay), plus images of a folder that could not be read.
        reconnects: successful re-connections after a lost or stalled live stream (0 for files).
        connected: the source is open and delivering (for files: open and not yet at the end).
        last_error: the latest problem, credentials redacted ("" if none).
        width: width in pixels of the latest frame (0 before the first frame).
        height: height in pixels of the latest frame (0 before the first frame).
    """

    frames_read: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    connected: bool = False
    last_error: str = ""
    width: int = 0
    height: int = 0
