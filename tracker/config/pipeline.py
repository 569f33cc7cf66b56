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
    backfill_tentative: bool = _f(True, "When a track is confirmed, also write the boxes it had while tentative, "
                                  "late: to a replay's MOT files and to the hub's stored trajectories (the hub's "
                                  "identities and live views never wait for them).")
    interpolate_max_gap_frames: int = _f(0, "Replay only, after the run: fill gaps of at most this many frames "
                                         "in each id of the written files by linear interpolation (0 = off). With "
                                         "the hub these are global ids, so it also bridges two local tracks of one "
                                         "identity; gaps within a track are filled online already "
                                         "(tracker.fill_gaps_max_s).", lo=0, hi=10000)
