"""The ``source`` section: video sources (files, image folders, RTSP, webcams; the streams package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.fields import _f

__all__ = ["SourceConfig"]


@dataclass
class SourceConfig:
    realtime: bool = _f(False, "Replay files at their own fps like a live camera (newest frame kept, late frames "
                        "dropped). Off: every frame of a file is processed (evaluation).")
    open_timeout_s: float = _f(10.0, "Timeout for opening a stream.", lo=0.0, hi=600.0, lo_open=True)
    read_timeout_s: float = _f(5.0, "A live stream that delivers no frame for this long is treated as stalled "
                               "and reconnected.", lo=0.0, hi=600.0, lo_open=True)
    reconnect_initial_backoff_s: float = _f(0.5, "First reconnect delay; doubles up to the maximum, with jitter.",
                                            lo=0.0, hi=600.0, lo_open=True)
    reconnect_max_backoff_s: float = _f(10.0, "Longest reconnect delay.", lo=0.0, hi=3600.0, lo_open=True)
    reconnect_jitter: float = _f(0.2, "Random +/- fraction applied to each reconnect delay.", lo=0.0, hi=1.0)
    rtsp_transport: Literal["tcp", "udp"] = _f("tcp", "RTSP transport (tcp survives lossy networks better).")
    stream_probe_s: float = _f(1.0, "How long FFmpeg analyses a live stream when (re)connecting (its "
                               "analyzeduration). FFmpeg's own default (5 s) makes every (re)connect take ~5 s and "
                               "start with ~5 s of stale buffered frames; too short can miss the codec parameters "
                               "of a camera whose key frames are further apart.", lo=0.0, hi=60.0, lo_open=True)
    default_fps: float = _f(25.0, "Frame rate assumed when a source does not report one.", lo=0.0, hi=1000.0,
                            lo_open=True)
