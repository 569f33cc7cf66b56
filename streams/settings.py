"""What a video source needs to know about timing and reconnection, as a protocol: the application's own config
(``tracker.config``'s ``source`` section) satisfies it, so ``streams`` depends on nothing above it."""

from __future__ import annotations

from typing import Protocol

__all__ = ["SourceSettings"]


class SourceSettings(Protocol):
    """Read-only source settings (units in the names)."""

    @property
    def realtime(self) -> bool:
        """Pace recorded files at their own fps like a live camera (newest frame kept)."""

    @property
    def open_timeout_s(self) -> float:
        """Timeout for opening a stream."""

    @property
    def read_timeout_s(self) -> float:
        """A live stream that delivers no frame for this long is stalled and reconnected."""

    @property
    def reconnect_initial_backoff_s(self) -> float:
        """First reconnect delay; doubles up to the maximum, with jitter."""

    @property
    def reconnect_max_backoff_s(self) -> float:
        """Longest reconnect delay."""

    @property
    def reconnect_jitter(self) -> float:
        """Random +/- fraction applied to each reconnect delay."""

    @property
    def rtsp_transport(self) -> str:
        """``tcp`` or ``udp``."""

    @property
    def stream_probe_s(self) -> float:
        """How long FFmpeg analyses a live stream when (re)connecting."""

    @property
    def default_fps(self) -> float:
        """Frame rate assumed when a source does not report one."""
