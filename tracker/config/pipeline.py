"""The ``pipeline`` and ``output`` sections: how a camera's stages are scheduled, and what replay writes."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config.fields import _f

__all__ = ["PipelineConfig", "OutputConfig"]


@dataclass
class PipelineConfig:
    overlap: bool = _f(True, "Live workers and `mctrack bench`: run Re-ID of frame t in a worker thread while the "
                       "detector runs frame t+1; frame t is then associated and published (one frame later). "
                       "Replay (evaluation) processes frame by frame; the tracks are the same either way.")


@dataclass
class OutputConfig:
    backfill_tentative: bool = _f(True, "Replay only: when a track is confirmed, also write the boxes it had "
                                  "while tentative (live output never waits for this).")
    interpolate_max_gap_frames: int = _f(0, "Replay only: fill gaps of at most this many frames in a track "
                                         "by linear interpolation (0 = off).", lo=0, hi=10000)
