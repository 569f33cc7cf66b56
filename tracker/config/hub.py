"""The ``hub`` section: publishing, consuming, cross-camera identity assignment and retention (the identity
engine's part is mapped onto tracker.identity's parameters by ``tracker.config.mapping``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.errors import ConfigError
from tracker.config.fields import _f

__all__ = ["CameraLinkConfig", "HubConfig"]


@dataclass
class CameraLinkConfig:
    camera_a: str = _f("", "One camera of the pair (a camera name).")
    camera_b: str = _f("", "The other camera of the pair.")
    overlap: bool = _f(True, "true: the views may overlap, so one person can be in both cameras at once. false: "
                       "disjoint views; a person needs at least min_transition_s to get from one to the other.")
    min_transition_s: float = _f(0.0, "Disjoint pairs only: least time between leaving one camera and appearing "
                                 "in the other.", lo=0.0, hi=86400.0)

    def check(self, key: str) -> None:
        if not self.camera_a or not self.camera_b or self.camera_a == self.camera_b:
            raise ConfigError(f"{key}: camera_a and camera_b must be two different camera names, got "
                              f"{self.camera_a!r} and {self.camera_b!r}")


@dataclass
class HubConfig:
    # worker side: what is published
    stream_maxlen: int = _f(3000, "Approximate length cap (XADD MAXLEN ~) of each camera's update stream, in frame "
                            "messages (a few kB each): how long the hub may be down without losing updates (3000 "
                            "= 5 min at 10 fps).", lo=10, hi=10_000_000)
    embedding_every_s: float = _f(0.7, "Publish a track's Re-ID embedding on its first update, then at most this "
                                  "often in camera time (or sooner when its quality improves, see "
                                  "embedding_quality_gain): 5 frames at 7 fps, 18 at 25 fps. A track sends an "
                                  "embedding only in frames where it has one (see reid.refresh_s).",
                                  lo=0.0, hi=3600.0)
    embedding_quality_gain: float = _f(0.15, "Also publish an embedding as soon as its quality beats the best one "
                                       "published for the track by this much.", lo=0.0, hi=1.0)
    heartbeat_interval_s: float = _f(1.0, "A camera with no confirmed tracks still publishes an empty frame this "
                                     "often, so 'who is visible now' empties out.", lo=0.0, hi=3600.0,
                                     lo_open=True)
    thumbnails_per_track: int = _f(3, "JPEG thumbnails kept per track (for `mctrack query identity --gallery`); "
                                   "0 = none.", lo=0, hi=100)
    thumbnail_every_s: float = _f(3.0, "Camera time between two thumbnails of one track.", lo=0.0, hi=86400.0)
    thumbnail_height_px: int = _f(64, "Thumbnail height (width follows the box's aspect ratio).", lo=8, hi=1024)
    thumbnail_jpeg_quality: int = _f(80, "Thumbnail JPEG quality.", lo=1, hi=100)
    # hub side: consuming
    consumer_group: str = _f("hub", "Redis consumer group of the hub on every camera stream.")
    consumer_name: str = _f("", "This hub's consumer name in the group (empty = <hostname>-<pid>).")
    read_count: int = _f(256, "Most messages fetched per XREADGROUP call (one message = one camera frame).",
                         lo=1, hi=100000)
    block_ms: int = _f(200, "How long `mctrack hub` blocks waiting for new messages before housekeeping.",
                       lo=1, hi=60000)
    discover_interval_s: float = _f(2.0, "How often the hub looks for new camera streams.", lo=0.0, hi=3600.0,
                                    lo_open=True)
    lock_ttl_s: float = _f(10.0, "Leader lock lifetime: one hub per key prefix is active, a second one waits as a "
                           "standby and takes over (claiming unacknowledged messages) when the lock expires.",
                           lo=0.1, hi=3600.0)
    # identity assignment
    match_threshold: float = _f(0.55, "Least appearance similarity between a track's mean embedding and an "
                                "identity's prototype (after camera normalisation) for the track to join that "
                                "identity; below it the track gets a new global id. In standardised units of the "
                                "Re-ID model's own scale (0 = its typical different-person cosine, 1 = its typical "
                                "same-person cosine; docs/reid.md), so one value suits every model; raised to the "
                                "model's 95th-percentile different-person pair where that is higher (OSNet-x0.25: "
                                "0.69). Cosine after camera normalisation: 0.32 with OMZ 0287, 0.33 with 0277, "
                                "0.36 with OSNet-x0.25 MSMT17.", lo=-10.0, hi=10.0)
    min_embedding_quality: float = _f(0.25, "Embeddings whose quality (detector confidence x visible fraction) is "
                                      "below this count little (weight = quality) and do not count towards "
                                      "min_embeddings.", lo=0.0, hi=1.0)
    min_embeddings: int = _f(3, "Good embeddings a track needs before the hub assigns its global id (deferral).",
                             lo=1, hi=1000)
    max_defer_s: float = _f(2.0, "Decide anyway once a track is this old, with what it has.", lo=0.0,
                            hi=3600.0)
    correction_window_s: float = _f(4.0, "For this long after assignment a young track is re-checked as more "
                                    "embeddings arrive, and moved when another identity fits clearly better.",
                                    lo=0.0, hi=3600.0)
    correction_margin: float = _f(0.1, "How much better another identity must fit for a correction (standardised "
                                  "similarity units, see match_threshold).", lo=0.0, hi=10.0)
    prototypes_per_camera: int = _f(8, "Identity gallery bound: most recent tracks per identity and camera whose "
                                    "mean embeddings serve as prototypes.", lo=1, hi=1000)
    camera_normalization: Literal["none", "mean"] = _f(
        "mean", "Per-camera embedding normalisation before cosine: 'mean' subtracts the mean embedding of the "
                "camera's recent tracks (removes that camera's lighting / colour bias), 'none' uses raw "
                "embeddings.")
    camera_norm_prior_tracks: int = _f(5, "Shrinkage of the camera mean: with n tracks it is (n * camera mean + "
                                       "k * all-camera mean) / (n + k), and the subtraction is scaled by "
                                       "N / (N + k) for N tracks in all cameras (k = this).", lo=1, hi=100000)
    camera_norm_window_tracks: int = _f(200, "Each camera's mean is over its most recent tracks (one vote per "
                                        "track), at most this many.", lo=1, hi=1_000_000)
    default_camera_relation: Literal["may_overlap", "disjoint"] = _f(
        "may_overlap", "Camera pairs not listed in camera_links: 'may_overlap' allows one person in both at "
                       "once; 'disjoint' needs default_min_transition_s between them.")
    default_min_transition_s: float = _f(0.0, "Least transition time for disjoint pairs without their own "
                                         "min_transition_s.", lo=0.0, hi=86400.0)
    camera_links: list[CameraLinkConfig] = _f(None, "Known camera pairs: overlap or least transition time "
                                              "(list of {camera_a, camera_b, overlap, min_transition_s}).",
                                              factory=list)
    # ground-plane evidence (calibrated cameras send positions; tracks without them are matched on appearance)
    ground_sample_interval_s: float = _f(0.2, "Ground positions of a track are kept as one sample per this much "
                                         "camera time (positions within one interval are averaged).",
                                         lo=0.01, hi=60.0)
    ground_history_s: float = _f(60.0, "Ground positions kept per track (the newest this much camera time): the "
                                 "longest shared span compared and the refinement's horizon.", lo=1.0, hi=86400.0)
    ground_position_sigma_floor_m: float = _f(0.25, "Position uncertainty added to every ground position on top "
                                              "of its own covariance: calibration error and the foot point "
                                              "differing between views (about half a person's width).",
                                              lo=0.0, hi=100.0)
    ground_min_shared_s: float = _f(1.0, "Two tracks of overlapping cameras are compared on the ground once they "
                                    "share this much time; shorter overlaps give no ground evidence.",
                                    lo=0.0, hi=3600.0)
    ground_gate_sigmas: float = _f(3.0, "Median ground distance over the shared time, in standard deviations of the "
                                   "two positions' combined uncertainty, above which two tracks are different "
                                   "people whatever their appearance (a look-alike elsewhere is never merged).",
                                   lo=0.1, hi=100.0)
    ground_weight: float = _f(0.58, "Similarity (standardised units, see match_threshold) gained at perfect ground "
                              "agreement over the shared time, falling linearly to 0 at ground_gate_sigmas; "
                              "appearance plus this must reach match_threshold. 0 = ground evidence only gates.",
                              lo=0.0, hi=10.0)
    ground_appearance_weight: float = _f(1.0, "Factor on the appearance similarity where ground evidence is "
                                         "available anywhere; 1 = appearance as is, 0 = match on the ground only "
                                         "(for studies).", lo=0.0, hi=1.0)
    ground_handover_s: float = _f(2.0, "Two tracks of one camera seen at the same time are two people, unless "
                                  "they overlap by at most this long and a track of another camera agrees on the "
                                  "ground with the newer one: then the older is taken as the camera tracker's "
                                  "lingering remainder (drifted or doubled) and both may share the global id. "
                                  "0 = never.", lo=0.0, hi=60.0)
    ground_max_speed_mps: float = _f(2.0, "Fastest walking speed: a track that starts further from where another "
                                     "ended than this speed allows in the time between (after "
                                     "ground_travel_margin_sigmas) is not the same person. Replaces "
                                     "min_transition_s where both tracks have positions (same camera "
                                     "re-entries too).", lo=0.1, hi=100.0)
    ground_travel_margin_sigmas: float = _f(3.0, "Position uncertainty forgiven by the walking-speed check, in "
                                            "standard deviations of the two positions.", lo=0.0, hi=100.0)
    ground_refine_interval_s: float = _f(1.0, "Camera time between refinements: split an identity whose tracks "
                                         "disagree on the ground, merge two that agree on it. 0 = off.",
                                         lo=0.0, hi=3600.0)
    ground_refine_span_s: float = _f(4.0, "Refinement: two identities merge when their tracks agree on the ground "
                                     "over at least this much shared time; an identity splits when two of its "
                                     "tracks disagree over their whole shared time, at least this long.",
                                     lo=0.1, hi=3600.0)
    ground_merge_max_sigmas: float = _f(1.5, "Refinement: most median ground distance (standard deviations) over "
                                        "the shared time for a merge.", lo=0.0, hi=100.0)
    ground_merge_min_similarity: float = _f(0.0, "Refinement: two identities are merged only if their best "
                                            "appearance similarity (after camera normalisation, standardised "
                                            "units, see match_threshold) is at least this (appearance must not "
                                            "contradict the ground).", lo=-10.0, hi=10.0)
    # lifecycle and retention
    track_timeout_s: float = _f(5.0, "A track not updated for this long (camera time) has ended (keep it >= "
                                "tracker.max_age_s).", lo=0.0, hi=86400.0, lo_open=True)
    visible_window_s: float = _f(1.0, "'Who is in camera X now': tracks updated within this of the camera's "
                                 "latest frame.", lo=0.0, hi=3600.0, lo_open=True)
    gallery_retention_s: float = _f(3600.0, "Identities not seen for this long leave the hub's matching gallery "
                                    "(a person returning later gets a new global id).", lo=0.0, hi=31_536_000.0,
                                    lo_open=True)
    relink_max_gap_s: float = _f(1.0, "Re-linking a camera's own fragments: a new track that starts at most this "
                                 "long after one track of its camera ended (the camera tracker lost the person and "
                                 "started again) takes that track's identity, when it starts within "
                                 "relink_max_distance of where the track ended, no other track of the camera ended "
                                 "there then, and appearance ranks that identity first among the feasible ones. "
                                 "0 = off.", lo=0.0, hi=60.0)
    relink_max_distance: float = _f(0.5, "Re-linking a camera's own fragments: the most distance between the ended "
                                    "track's last box and the new track's first box (centres), in box heights.",
                                    lo=0.0, hi=10.0)
    max_identities: int = _f(100000, "Hard bound on identities in the matching gallery (least recently seen "
                             "leave first).", lo=1, hi=100_000_000)
    retention_s: float = _f(3600.0, "Trajectories, tracks and identities older than this (camera time) are "
                            "deleted from Redis; memory grows with cameras x people x fps x retention_s x about "
                            "100 bytes.", lo=0.0, hi=315_360_000.0, lo_open=True)
    key_ttl_s: float = _f(7200.0, "Redis TTL of per-track and per-identity keys, refreshed while they are active "
                          "(a safety net for keys a stopped hub no longer sweeps).", lo=1.0, hi=315_360_000.0)
    trajectory_max_points: int = _f(500000, "Boxes kept per camera trajectory (newest kept), on top of "
                                    "retention_s.", lo=1, hi=1_000_000_000)
    identity_refresh_s: float = _f(1.0, "While an identity is seen, its summary hash (last camera, box, cameras) "
                                   "is rewritten at most this often (camera time); its last-seen time in the "
                                   "identity index is always exact.", lo=0.0, hi=3600.0)
    events_maxlen: int = _f(10000, "Approximate length cap of the identity event stream.", lo=10,
                            hi=100_000_000)
    dead_letter_maxlen: int = _f(10000, "Approximate length cap of the dead-letter stream (malformed messages).",
                                 lo=10, hi=100_000_000)
    sweep_interval_s: float = _f(10.0, "Wall-clock seconds between retention sweeps and TTL refreshes.",
                                 lo=0.0, hi=86400.0, lo_open=True)
    trim_processed: bool = _f(True, "At each sweep, delete messages the hub has processed from the camera streams "
                              "(XTRIM MINID), so streams hold only unprocessed updates. Turn off when other "
                              "consumers read the streams too.")

    def check(self, key: str) -> None:
        pairs: set[frozenset[str]] = set()
        for i, link in enumerate(self.camera_links):
            pair = frozenset((link.camera_a, link.camera_b))
            if pair in pairs:
                raise ConfigError(f"{key}.camera_links[{i}]: the pair {link.camera_a}/{link.camera_b} is listed "
                                  f"twice")
            pairs.add(pair)
