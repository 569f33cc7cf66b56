"""The ``kalman`` and ``tracker`` sections: the per-camera tracker (mapped onto tracker.core's parameters by
``tracker.config.mapping``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.errors import ConfigError
from tracker.config.fields import _f

__all__ = ["KalmanConfig", "TrackerConfig"]


@dataclass
class KalmanConfig:
    std_weight_position: float = _f(1.0 / 20, "Position noise relative to box height (DeepSORT: 1/20).",
                                    lo=0.0, hi=10.0, lo_open=True)
    std_weight_velocity: float = _f(1.0 / 160, "Velocity noise relative to box height (DeepSORT: 1/160).",
                                    lo=0.0, hi=10.0, lo_open=True)


@dataclass
class TrackerConfig:
    high_score_threshold: float = _f(0.5, "Detections at or above this score take part in the first "
                                     "(appearance + motion) association pass.", lo=0.0, hi=1.0)
    new_track_score_threshold: float = _f(0.6, "An unmatched detection starts a new track only at or above this "
                                          "score.", lo=0.0, hi=1.0)
    n_init_frames: int = _f(3, "Consecutive hits before a tentative track is confirmed.", lo=1, hi=1000)
    max_age_s: float = _f(3.0, "Seconds a confirmed track survives without a detection before deletion.",
                          lo=0.0, hi=3600.0, lo_open=True)
    gating_chi2: float = _f(9.4877, "Mahalanobis gate (chi-square, 4 dof; 9.4877 = 95%). Pairs beyond it "
                            "cannot match.", lo=0.0, hi=1000.0, lo_open=True)
    max_cosine_distance: float = _f(0.5, "Appearance gate: pairs farther apart than this cannot match on "
                                    "appearance. A standardised distance, 1 - u, on the Re-ID model's own scale (u = "
                                    "0: its typical different-person cosine, 1: its typical same-person cosine; "
                                    "docs/reid.md): 0.5 rejects pairs closer to a typical different pair than to a "
                                    "typical same one; tightened to the model's 95th-percentile different-person "
                                    "pair where that is stricter. Cosine distance 0.60 with OMZ 0287, 0.32 with "
                                    "OSNet-x0.25 MSMT17.", lo=0.0, hi=10.0)
    appearance_weight: float = _f(0.5, "Weight of appearance cost vs IoU cost in the first pass (0 = IoU only, "
                                  "1 = appearance only).", lo=0.0, hi=1.0)
    max_iou_distance: float = _f(0.7, "IoU gate for the IoU-only passes (1 - IoU must be below this).",
                                 lo=0.0, hi=1.0, lo_open=True)
    low_score_max_iou_distance: float = _f(0.5, "IoU gate for matching low-score detections (second pass).",
                                           lo=0.0, hi=1.0, lo_open=True)
    iou_max_missed_frames: int = _f(2, "Confirmed tracks missed for at most this many frames may still take a "
                                    "detection on IoU alone (passes 3 and 4; 1 = DeepSORT/ByteTrack).",
                                    lo=0, hi=1000)
    trust_unambiguous_motion: bool = _f(False, "Match a detection that continues a track unambiguously (the one "
                                        "confirmed track seen in the previous frame overlaps it by "
                                        "reid.easy_match_iou or more, nobody else within reid.near_iou) on motion: "
                                        "its embedding, when one is taken to refresh the track's appearance, "
                                        "updates the track but cannot veto the match (as in BoT-SORT, where "
                                        "appearance only ever lowers a cost). Helps a dark, noisy camera whose "
                                        "refresh embeddings split lone walkers (two-cam cam2: 17 id switches "
                                        "instead of 39); off by default because it measured slightly worse on "
                                        "the clean dev camera and end to end through the hub (docs/benchmarks.md).")
    iou_pass_appearance_gate: bool = _f(True, "The IoU-only passes also refuse pairs whose appearance is "
                                        "farther than max_cosine_distance (when both have features).")
    matching_cascade: bool = _f(False, "DeepSORT's matching cascade (most recently seen tracks first) instead "
                                "of one global assignment.")
    ema_alpha: float = _f(0.9, "Track appearance is an exponential moving average: f = a*f + (1-a)*new.",
                          lo=0.0, hi=1.0, hi_open=True)
    appearance_update_max_iou: float = _f(0.4, "A detection overlapping another one by more than this IoU is "
                                          "occluded: it still updates the track's position but not its "
                                          "appearance.", lo=0.0, hi=1.0)
    output_box: Literal["detection", "filtered"] = _f("filtered", "Box written for a matched track: the "
                                                      "detector's box or the Kalman posterior.")
    gallery_size: int = _f(30, "Embeddings kept per track (bounded gallery, newest kept).", lo=1, hi=10000)
    max_history: int = _f(300, "Box history kept per track (bounded).", lo=1, hi=1_000_000)
    split_switches: bool = _f(True, "Split a track that switched people in a crossing: a confirmed track whose box "
                              "overlapped another detection or track (or that came back after missed frames), and "
                              "whose embeddings afterwards are consistently far from its own before and closer "
                              "to another track's, continues under a new local id, so that the hub can give each "
                              "part its person (tracker.core.switch).")
    switch_min_embeddings: int = _f(3, "Switch test: un-occluded embeddings needed before the crossing (the "
                                    "track's reference) and after it (each of the last this many must be far). "
                                    "Watched tracks are embedded every frame until they have them. More: fewer "
                                    "false splits, later detection.", lo=2, hi=100)
    switch_sigmas: float = _f(3.0, "Switch test: an embedding after the crossing is far when its cosine similarity "
                              "to the track's reference mean is this many standard deviations below the "
                              "reference embeddings' own (leave-one-out) similarity to it. Relative to each "
                              "track's spread, so it holds for any Re-ID model's cosine scale.",
                              lo=0.0, hi=100.0, lo_open=True)
    switch_watch_s: float = _f(2.0, "Switch test: how long after its last overlap a track's appearance is watched "
                               "(its reference frozen meanwhile).", lo=0.0, hi=60.0, lo_open=True)
    fill_gaps_max_s: float = _f(1.0, "When a confirmed track takes a detection again after missed frames (a person "
                                "occluded or missed by the detector), the boxes of a gap of at most this many "
                                "seconds are filled in, linearly between its output boxes before and after the gap, "
                                "and written late (the gap's length later): to a replay's MOT files and to the hub's "
                                "stored trajectories, never as identity evidence (0 = off). Over longer gaps people "
                                "turn or stop and a straight line no longer follows them (ByteTrack and StrongSORT "
                                "interpolate offline up to 20 frames, 0.67 s at 30 fps).", lo=0.0, hi=60.0)

    def check(self, key: str) -> None:
        if self.new_track_score_threshold < self.high_score_threshold:
            raise ConfigError(f"{key}.new_track_score_threshold ({self.new_track_score_threshold}) must be >= "
                              f"{key}.high_score_threshold ({self.high_score_threshold})")
