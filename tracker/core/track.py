"""One track's state and lifecycle: tentative -> confirmed -> deleted (DeepSORT)."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from tracker.core.boxes import xyah_to_xyxy, xyxy_to_xyah
from tracker.core.kalman import KalmanModel, clamp_height_velocity
from tracker.core.switch import AppearanceWatch

__all__ = ["TrackState", "Track", "BoxRecord", "smooth_features"]

_MIN_NORM = 1e-12


def smooth_features(old: np.ndarray, new: np.ndarray, alpha: float) -> np.ndarray:
    """Appearance EMA (StrongSORT) of K tracks at once: alpha * old + (1 - alpha) * new, rows L2-normalised.

    old: (K, D) track appearances, new: (K, D) this frame's features -> (K, D) float32.
    """
    f = alpha * old + (1.0 - alpha) * new
    norms = np.sqrt(np.einsum("ij,ij->i", f, f))
    return f / np.maximum(norms, _MIN_NORM)[:, None]


class TrackState(enum.Enum):
    TENTATIVE = 1
    CONFIRMED = 2
    DELETED = 3


@dataclass(frozen=True)
class BoxRecord:
    """A box a track had in one frame. xyxy: (4,) float."""

    frame_index: int
    xyxy: np.ndarray
    confidence: float


class Track:
    """A single target. ``track_id`` is 0 until the track is confirmed, then a per-camera id >= 1.

    Args:
        mean, covariance: Kalman state (8,), (8, 8).
        n_init: consecutive hits needed for confirmation.
        max_age_frames: missed frames after which a confirmed track is deleted.
        ema_alpha: appearance EMA factor; gallery_size / max_history bound the memory.
    """

    def __init__(self, mean: np.ndarray, covariance: np.ndarray, det_xyxy: np.ndarray, confidence: float,
                 feature: np.ndarray | None, frame_index: int, n_init: int, max_age_frames: int,
                 ema_alpha: float, gallery_size: int, max_history: int) -> None:
        self.mean = mean
        self.covariance = covariance
        self._xyxy_cache: np.ndarray | None = None
        self.track_id = 0
        self.state = TrackState.CONFIRMED if n_init <= 1 else TrackState.TENTATIVE
        self.hits = 1
        self.age = 1
        self.time_since_update = 0
        self.n_init = n_init
        self.max_age_frames = max_age_frames
        self.ema_alpha = ema_alpha
        self.feature: np.ndarray | None = None
        self.frames_since_feature = 0
        self.gallery: deque[np.ndarray] = deque(maxlen=gallery_size)
        self.history: deque[BoxRecord] = deque(maxlen=max_history)
        self.watch = AppearanceWatch(gallery_size)  # appearance before / after crossings (switch detection)
        self.last_xyxy = np.asarray(det_xyxy, dtype=np.float64)
        self.last_confidence = float(confidence)
        self.last_embedding: np.ndarray | None = feature
        #: the box this track last output (set by the tracker; None before its first output and after a split):
        #: one end of the boxes interpolated over a gap
        self.last_output: BoxRecord | None = None
        self._record(frame_index, self.last_xyxy, confidence)
        self.update_appearance(feature)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def is_tentative(self) -> bool:
        return self.state is TrackState.TENTATIVE

    @property
    def is_confirmed(self) -> bool:
        return self.state is TrackState.CONFIRMED

    @property
    def is_deleted(self) -> bool:
        return self.state is TrackState.DELETED

    def predicted_xyxy(self) -> np.ndarray:
        """(4,) box of the current Kalman mean (cached until the state changes)."""
        if self._xyxy_cache is None:
            self._xyxy_cache = xyah_to_xyxy(self.mean[:4])
        return self._xyxy_cache

    # -- lifecycle -------------------------------------------------------------------------------------------
    def predict(self, kf: KalmanModel) -> None:
        """One frame ahead on its own (the tracker predicts all tracks at once with ``set_prediction``)."""
        clamp_height_velocity(self.mean[None])  # height must stay positive
        mean, covariance = kf.predict(self.mean, self.covariance)
        self.set_prediction(mean, covariance)

    def set_prediction(self, mean: np.ndarray, covariance: np.ndarray, xyxy: np.ndarray | None = None) -> None:
        """Take this frame's predicted state, computed for all tracks at once (``KalmanModel.predict_batch``).

        mean (8,), covariance (8, 8); xyxy: (4,) box of ``mean`` when already computed.
        """
        self.mean, self.covariance = mean, covariance
        self._xyxy_cache = xyxy
        self.age += 1
        self.time_since_update += 1
        self.frames_since_feature += 1

    def update(self, kf: KalmanModel, det_xyxy: np.ndarray, confidence: float, feature: np.ndarray | None,
               frame_index: int, update_appearance: bool = True) -> bool:
        """Correct with a matched detection on its own. Returns True if this update confirmed the track."""
        mean, covariance = kf.update(self.mean, self.covariance, xyxy_to_xyah(det_xyxy))
        return self.set_update(mean, covariance, det_xyxy, confidence, feature, frame_index, update_appearance)

    def set_update(self, mean: np.ndarray, covariance: np.ndarray, det_xyxy: np.ndarray, confidence: float,
                   feature: np.ndarray | None, frame_index: int, update_appearance: bool = True,
                   xyxy: np.ndarray | None = None) -> bool:
        """Take the posterior state after the matched detection det_xyxy (4,), computed for all matched tracks
        at once (``KalmanModel.update_batch``). mean (8,), covariance (8, 8); xyxy: (4,) box of ``mean`` when
        already computed. Returns True if this update confirmed the track."""
        self.mean, self.covariance = mean, covariance
        self._xyxy_cache = xyxy
        self.last_xyxy = np.asarray(det_xyxy, dtype=np.float64)
        self.last_confidence = float(confidence)
        self.last_embedding = feature
        if update_appearance:
            self.update_appearance(feature)
        self.hits += 1
        self.time_since_update = 0
        self._record(frame_index, self.last_xyxy, confidence)
        if self.is_tentative and self.hits >= self.n_init:
            self.state = TrackState.CONFIRMED
            return True
        return False

    def mark_missed(self) -> None:
        if self.is_tentative or self.time_since_update > self.max_age_frames:
            self.state = TrackState.DELETED

    def update_appearance(self, feature: np.ndarray | None) -> None:
        """Fold this frame's feature (D,) into the appearance; None or all zeros (not embedded) changes nothing."""
        if feature is None:
            return
        feature = np.asarray(feature, dtype=np.float32)
        if not feature.any():
            return
        smoothed = None if self.feature is None else smooth_features(self.feature[None], feature[None],
                                                                     self.ema_alpha)[0]
        self.take_feature(feature, smoothed)

    def take_feature(self, feature: np.ndarray, smoothed: np.ndarray | None) -> None:
        """Record this frame's non-zero feature (D,). smoothed: (D,) the new appearance from ``smooth_features``
        (computed for all matched tracks at once), None for the track's first feature."""
        self.frames_since_feature = 0
        self.feature = feature.copy() if smoothed is None else smoothed
        self.gallery.append(feature)
        self.watch.add(feature)

    def restart_appearance(self, features: list[np.ndarray]) -> None:
        """After a split: the appearance is that of ``features`` (each (D,), non-empty list) alone."""
        mean = np.mean(np.asarray(features, dtype=np.float32), axis=0)
        self.feature = (mean / max(float(np.linalg.norm(mean)), _MIN_NORM)).astype(np.float32)
        self.gallery.clear()
        self.gallery.extend(features)
        self.watch.restart(features)

    def _record(self, frame_index: int, xyxy: np.ndarray, confidence: float) -> None:
        self.history.append(BoxRecord(frame_index, np.asarray(xyxy, dtype=np.float64), float(confidence)))
