"""Cross-camera identity assignment, the pure core of the hub (numpy and scipy only: no Redis, OpenCV or config).

``IdentityEngine`` (engine.py) assigns global ids to camera tracks, reading ``IdentityParams`` (params.py); it
uses the camera ``Topology`` (topology.py), the ``CameraNormalizer`` (normalizer.py) and the ``Gallery`` of
identity prototypes (gallery.py), and keeps ``CameraTrack`` / ``Identity`` records and emits ``IdentityEvent``
(records.py).
"""

from tracker.identity.engine import IdentityEngine
from tracker.identity.normalizer import CameraNormalizer
from tracker.identity.params import (
    CameraLink,
    CameraRelation,
    IdentityParams,
    NormalizationMode,
    NormalizationParams,
    TopologyParams,
)
from tracker.identity.records import CameraTrack, EventKind, Identity, IdentityEvent, TrackKey
from tracker.identity.topology import SAME_CAMERA_MIN_GAP_S, Topology
from tracker.identity.vectors import l2_normalize

__all__ = [
    "IdentityEngine",
    "IdentityParams",
    "TopologyParams",
    "NormalizationParams",
    "CameraLink",
    "CameraRelation",
    "NormalizationMode",
    "Topology",
    "SAME_CAMERA_MIN_GAP_S",
    "CameraNormalizer",
    "CameraTrack",
    "Identity",
    "IdentityEvent",
    "EventKind",
    "TrackKey",
    "l2_normalize",
]
