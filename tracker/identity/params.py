"""Parameters of the cross-camera identity engine, as small frozen dataclasses.

The engine reads only these; the application config maps its ``hub`` section onto them
(``tracker.config.mapping.identity_params``), so importing the engine loads no YAML or config machinery. Defaults
equal the application config's defaults (``tests/test_config.py`` checks it); the config documents each value.
Times are camera time in seconds; similarities are cosine similarities in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CameraRelation",
    "NormalizationMode",
    "CameraLink",
    "TopologyParams",
    "NormalizationParams",
    "GroundParams",
    "IdentityParams",
]

CameraRelation = Literal["may_overlap", "disjoint"]
"""Whether two cameras may see one person at the same time (may_overlap) or not (disjoint)."""

NormalizationMode = Literal["none", "mean"]
"""Per-camera embedding normalisation: none, or subtract the camera's (shrunk) mean embedding."""


@dataclass(frozen=True)
class CameraLink:
    """A known camera pair. overlap: the views may overlap (one person in both at once); otherwise a person needs
    at least ``min_transition_s`` to get from one to the other (None: the topology's default)."""

    camera_a: str
    camera_b: str
    overlap: bool = True
    min_transition_s: float | None = None


@dataclass(frozen=True)
class TopologyParams:
    """Camera pairs: ``links`` as listed, every other pair ``default_relation`` (disjoint pairs then need
    ``default_min_transition_s`` between them)."""

    default_relation: CameraRelation = "may_overlap"
    default_min_transition_s: float = 0.0
    links: tuple[CameraLink, ...] = ()


@dataclass(frozen=True)
class NormalizationParams:
    """Camera normalisation (``CameraNormalizer``): ``mode``; the camera mean is shrunk towards the all-camera
    mean with a prior of ``prior_tracks`` tracks, and taken over each camera's ``window_tracks`` latest tracks."""

    mode: NormalizationMode = "mean"
    prior_tracks: int = 5
    window_tracks: int = 200


@dataclass(frozen=True)
class GroundParams:
    """Ground-plane evidence for tracks of calibrated cameras (``ground.py``); tracks without positions are matched
    on appearance and topology alone.

    History: one position sample per ``sample_interval_s`` (averaged), the last ``history_s`` kept per track.
    Uncertainty: each position's covariance plus ``position_sigma_floor_m`` squared (calibration error, the foot
    point differing between views). A track is decided once it also has ``min_shared_s`` of positions (or at
    ``max_defer_s``). Overlapping views: over at least ``min_shared_s`` of shared time the median per-sample
    distance in standard deviations (``sigmas``) decides: above ``gate_sigmas`` the two are different people
    (infeasible, whatever their appearance), below it the similarity gains ``weight * (1 - sigmas /
    gate_sigmas)`` (cosine units). ``appearance_weight`` scales the appearance similarity (1; 0 = ground only, for
    studies). Two tracks of one camera seen together are two people, unless they overlap by at most
    ``handover_s`` and another camera's track of the identity agrees with the query on the ground (a per-camera
    tracker's old track lingering, drifted or doubled, while a new one took the person over). One after the
    other: a track that could not be reached from another at ``max_speed_mps`` (after forgiving
    ``travel_margin_sigmas`` of the positions' uncertainty; each track's start and end are the medians of its
    first / last ``min_shared_s`` of positions) cannot be the same person; this replaces the topology's
    transition times where both have positions. Refinement every ``refine_interval_s`` (0 = off): an identity two
    of whose tracks disagree on the ground over their whole shared time (at least ``refine_span_s``), or are out
    of reach at walking speed, is split; two identities whose tracks agree within ``merge_max_sigmas`` over at
    least ``refine_span_s`` and whose appearance does not contradict (best similarity >=
    ``merge_min_similarity``) are merged.
    """

    sample_interval_s: float = 0.2
    history_s: float = 60.0
    position_sigma_floor_m: float = 0.25
    min_shared_s: float = 1.0
    gate_sigmas: float = 3.0
    weight: float = 0.3
    appearance_weight: float = 1.0
    handover_s: float = 2.0
    max_speed_mps: float = 2.0
    travel_margin_sigmas: float = 3.0
    refine_interval_s: float = 1.0
    refine_span_s: float = 4.0
    merge_max_sigmas: float = 1.5
    merge_min_similarity: float = 0.0


@dataclass(frozen=True)
class IdentityParams:
    """Assignment, correction and retention tunables of ``IdentityEngine`` (see the ``hub`` config section).

    match_threshold: least similarity to join an identity. min_embedding_quality: quality (0-1) of an embedding
    that counts towards min_embeddings (good embeddings before a decision). max_defer_s: decide anyway at this
    track age. correction_window_s / correction_margin: how long and by how much better another identity must fit
    to move a young track. prototypes_per_camera: closed tracks kept per identity and camera. track_timeout_s: a
    track not updated this long has ended. gallery_retention_s / max_identities: identity eviction. ground: the
    ground-plane evidence of calibrated cameras.
    """

    match_threshold: float = 0.36
    min_embedding_quality: float = 0.25
    min_embeddings: int = 3
    max_defer_s: float = 2.0
    correction_window_s: float = 4.0
    correction_margin: float = 0.052
    prototypes_per_camera: int = 8
    track_timeout_s: float = 5.0
    gallery_retention_s: float = 3600.0
    max_identities: int = 100000
    relink_max_gap_s: float = 1.0
    relink_max_distance: float = 0.5
    normalization: NormalizationParams = field(default_factory=NormalizationParams)
    topology: TopologyParams = field(default_factory=TopologyParams)
    ground: GroundParams = field(default_factory=GroundParams)
