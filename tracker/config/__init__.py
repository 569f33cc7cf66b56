"""Typed, validated configuration: one section dataclass per component, the YAML loader, and the mapping onto
the parameters of the pure layers (core, identity).

Modules: ``fields`` (field helper, ranges), ``errors`` (ConfigError), one module per component's sections
(``detector``, ``clahe``, ``reid``, ``tracker`` (tracker + kalman), ``pipeline`` (pipeline + output), ``source``,
``redis``, ``hub``, ``snapshots``, ``ui``, ``service`` (cameras, worker, supervisor, metrics, logging)), ``app``
(Config, the whole), ``loader`` (YAML, overrides, validation), ``render`` (default YAML, key descriptions).

``tracker.config.mapping`` (kalman_params, tracker_params, identity_params) is imported on its own where a tracker
or identity engine is built: it loads the core and identity packages (scipy), which the config itself never needs.
"""

from tracker.config.app import Config, with_detector_threads_for
from tracker.config.clahe import ClaheConfig
from tracker.config.detector import DetectorConfig
from tracker.config.errors import ConfigError
from tracker.config.geometry import GeometryConfig
from tracker.config.hub import CameraLinkConfig, HubConfig
from tracker.config.loader import apply_overrides, config_from_dict, config_to_dict, load_config
from tracker.config.pipeline import OutputConfig, PipelineConfig
from tracker.config.redis import RedisConfig
from tracker.config.reid import ReidConfig
from tracker.config.render import describe_config, render_default_yaml
from tracker.config.service import (
    CameraCalibrationConfig,
    CameraConfig,
    LoggingConfig,
    MetricsConfig,
    SupervisorConfig,
    WorkerConfig,
)
from tracker.config.snapshots import SnapshotsConfig
from tracker.config.source import SourceConfig
from tracker.config.tracker import KalmanConfig, TrackerConfig
from tracker.config.ui import UiConfig

__all__ = [
    "UiConfig",
    "GeometryConfig",
    "SnapshotsConfig",
    "CameraCalibrationConfig",
    "Config",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "describe_config",
    "render_default_yaml",
    "with_detector_threads_for",
    "DetectorConfig",
    "ClaheConfig",
    "ReidConfig",
    "KalmanConfig",
    "TrackerConfig",
    "PipelineConfig",
    "OutputConfig",
    "SourceConfig",
    "RedisConfig",
    "CameraLinkConfig",
    "HubConfig",
    "CameraConfig",
    "LoggingConfig",
    "MetricsConfig",
    "WorkerConfig",
    "SupervisorConfig",
]
