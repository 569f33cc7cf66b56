"""The whole application's configuration: one section per component (each in its own module here)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from tracker.config.clahe import ClaheConfig
from tracker.config.detector import DetectorConfig
from tracker.config.errors import ConfigError
from tracker.config.fields import _f
from tracker.config.geometry import GeometryConfig
from tracker.config.hub import HubConfig
from tracker.config.pipeline import OutputConfig, PipelineConfig
from tracker.config.redis import RedisConfig
from tracker.config.reid import ReidConfig
from tracker.config.service import CameraConfig, LoggingConfig, MetricsConfig, SupervisorConfig, WorkerConfig
from tracker.config.snapshots import SnapshotsConfig
from tracker.config.source import SourceConfig
from tracker.config.tracker import KalmanConfig, TrackerConfig
from tracker.config.ui import UiConfig

__all__ = ["Config", "with_detector_threads_for"]


@dataclass
class Config:
    detector: DetectorConfig = _f(None, "Person detector.", factory=DetectorConfig)
    clahe: ClaheConfig = _f(None, "Lighting normalisation.", factory=ClaheConfig)
    reid: ReidConfig = _f(None, "Re-ID appearance model.", factory=ReidConfig)
    kalman: KalmanConfig = _f(None, "Kalman filter noise model.", factory=KalmanConfig)
    tracker: TrackerConfig = _f(None, "Per-camera association and track lifecycle.", factory=TrackerConfig)
    pipeline: PipelineConfig = _f(None, "How a camera's per-frame stages are scheduled.", factory=PipelineConfig)
    source: SourceConfig = _f(None, "Video sources (files, image folders, RTSP, webcams).", factory=SourceConfig)
    output: OutputConfig = _f(None, "Boxes written late, and a replay's output files.", factory=OutputConfig)
    geometry: GeometryConfig = _f(None, "Ground-plane positions of calibrated cameras.", factory=GeometryConfig)
    redis: RedisConfig = _f(None, "Redis connection.", factory=RedisConfig)
    hub: HubConfig = _f(None, "Cross-camera identity hub: publishing, consuming, assignment, retention.",
                        factory=HubConfig)
    snapshots: SnapshotsConfig = _f(None, "Annotated camera snapshots for the web console's camera wall.",
                                    factory=SnapshotsConfig)
    logging: LoggingConfig = _f(None, "Logging.", factory=LoggingConfig)
    metrics: MetricsConfig = _f(None, "Prometheus metrics and health endpoint.", factory=MetricsConfig)
    worker: WorkerConfig = _f(None, "Live camera workers: heartbeats and buffering while Redis is down.",
                              factory=WorkerConfig)
    supervisor: SupervisorConfig = _f(None, "`mctrack run`: restarting dead or hung processes.",
                                      factory=SupervisorConfig)
    ui: UiConfig = _f(None, "`mctrack ui`: the read-only web console and HTTP API.", factory=UiConfig)
    cameras: list[CameraConfig] = _f(None, "Cameras for `mctrack run`.", factory=list)

    def check(self, key: str) -> None:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"cameras: duplicate camera name(s) {dupes}; names must be unique")


def with_detector_threads_for(cfg: Config, cameras: int, cpu_count: int | None = None) -> Config:
    """``cfg`` for one of ``cameras`` camera processes sharing this machine: with ``detector.num_threads`` 0
    (automatic) and more than one camera, each detector gets cores // cameras threads (at least 1) instead of one per
    core; likewise ``reid.num_threads`` 0 (Re-ID beside the detector would otherwise take every core too). Measured,
    4 cameras at 7 fps on 2 cores: 2 threads each, 22.3-27.3 fps in total, all cameras kept up in 1 of 5 runs;
    1 thread each, 26.8-28.1 fps, all kept up in 6 of 7 runs."""
    if cameras <= 1 or (cfg.detector.num_threads != 0 and cfg.reid.num_threads != 0):
        return cfg
    cores = cpu_count or os.cpu_count() or 1
    threads = max(1, cores // cameras)
    detector, reid = cfg.detector, cfg.reid
    if detector.num_threads == 0:
        detector = dataclasses.replace(detector, num_threads=threads)
    if reid.num_threads == 0:
        reid = dataclasses.replace(reid, num_threads=threads)
    return dataclasses.replace(cfg, detector=detector, reid=reid)
