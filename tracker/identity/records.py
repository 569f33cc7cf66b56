"""What the identity engine knows: one camera's local tracks, identities, and identity events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tracker.identity.ground import GroundHistory
from tracker.identity.vectors import NORM_EPS

__all__ = ["TrackKey", "EventKind", "CorrectionCause", "CameraTrack", "Identity", "IdentityEvent"]

TrackKey = tuple[str, int]
"""(camera, local track id)."""
EventKind = Literal["new_identity", "assigned", "corrected", "retired"]
CorrectionCause = Literal["young", "split", "merge"]
"""Why a ``corrected`` event moved a track: a young assignment re-checked (``young``), the periodic refinement
splitting an identity whose tracks disagree on the ground (``split``) or merging two identities that agree on it
(``merge``)."""


@dataclass(eq=False)
class CameraTrack:
    """What the hub knows about one camera's local track (the per-camera tracker's own is ``core.track.Track``).

    Attributes:
        feat_sum: (D,) float32 quality-weighted sum of the track's unit embeddings (None before the first one).
        weight: sum of the weights in feat_sum.
        n_good: embeddings with quality >= min_embedding_quality; n_total: all embeddings.
        gid: global id, None while the decision is deferred.
        assigned_ts: camera time of the (last) assignment; n_good_checked: n_good at the last (re)check.
        ended: not updated for track_timeout_s.
        ground: bounded history of ground-plane positions (metres) with their covariances, None until the first
            position (cameras without calibration send none).
        n_ground_checked: ground samples at the last (re)check.
        first_box / last_box: (4,) xyxy camera pixels of the track's first and latest update (None when the
            updates carried no boxes); where a same-camera fragment is re-linked (``IdentityEngine``).
    """

    camera: str
    local_id: int
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    feat_sum: np.ndarray | None = None
    weight: float = 0.0
    n_good: int = 0
    n_total: int = 0
    gid: int | None = None
    assigned_ts: float | None = None
    n_good_checked: int = 0
    ended: bool = False
    row: int = -1
    ground: GroundHistory | None = field(default=None, repr=False)
    n_ground_checked: int = 0
    first_box: np.ndarray | None = field(default=None, repr=False)
    last_box: np.ndarray | None = field(default=None, repr=False)
    _unit: np.ndarray | None = field(default=None, repr=False)

    @property
    def key(self) -> TrackKey:
        return (self.camera, self.local_id)

    def feature(self) -> np.ndarray | None:
        """(D,) unit mean embedding (raw, before camera normalisation) or None. Cached until feat_sum changes
        (call :meth:`invalidate` after changing it)."""
        if self._unit is None:
            if self.feat_sum is None or self.weight <= 0:
                return None
            norm = float(np.sqrt(np.dot(self.feat_sum, self.feat_sum)))
            self._unit = (self.feat_sum / norm).astype(np.float32) if norm > NORM_EPS else \
                np.zeros_like(self.feat_sum, dtype=np.float32)
        return self._unit

    def invalidate(self) -> None:
        self._unit = None


@dataclass(eq=False)
class Identity:
    gid: int
    first_ts: float
    last_ts: float
    col: int = -1
    tracks: dict[TrackKey, CameraTrack] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityEvent:
    """A change of identity state.

    kind: ``new_identity`` (the track founded global id ``gid``), ``assigned`` (it joined existing ``gid``),
    ``corrected`` (it moved from ``previous_gid`` to ``gid``; ``cause`` says why: a young assignment re-checked,
    or the refinement splitting or merging identities), ``retired`` (identity ``gid`` lost its last track to a
    correction or a merge and was merged into ``previous_gid``; camera/local_id name the moved track).
    similarity: the appearance similarity (cosine) behind the decision; ground_sigmas: the median ground distance
    over the tracks' shared time in standard deviations, where ground evidence took part (None otherwise).
    """

    kind: EventKind
    camera: str
    local_id: int
    gid: int
    timestamp_s: float
    previous_gid: int | None = None
    similarity: float | None = None
    runner_up: float | None = None
    cause: CorrectionCause | None = None
    ground_sigmas: float | None = None
