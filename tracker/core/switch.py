"""Identity switches along one local track: after a crossing, does the track still follow the same person?

A per-camera track that passes close to someone (a crossing, an occlusion, a re-acquisition after missed frames)
may come out of it on the other person. Its appearance tells: the embeddings it gets after the crossing are then
consistently far from what it looked like before, and close to what another track (the other person's) looked
like. The test is relative to the track's own appearance statistics, so it carries over between Re-ID models
whose cosine scales differ:

* reference: the track's un-occluded embeddings taken while nobody was near (frozen during a crossing). Its
  spread is the leave-one-out similarity of each reference embedding to the mean of the others: mean ``mu`` and
  standard deviation ``sigma`` (shrunk towards the camera's pooled spread when the reference is short).
* after the crossing, the last ``min_embeddings`` un-occluded embeddings must each lie within ``sigmas`` standard
  deviations of another track's own similarity level (a live track, a lost one, or one that ended recently),
* and more than ``sigmas`` standard deviations further below ``mu`` than that (one odd crop, or a slow drift that
  the rolling reference follows, does not): usual for someone else, unusual for the track.

Embeddings are (D,) float32 vectors of any norm (normalised here); similarities are cosine similarities.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AppearanceWatch", "ReferenceStats", "reference_stats", "is_switch", "switch_scores"]

_EPS = 1e-12


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows (or a vector) L2-normalised."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, _EPS)


@dataclass(frozen=True)
class ReferenceStats:
    """A track's reference appearance: unit mean (D,), and the mean / variance of its embeddings' leave-one-out
    similarity to the others' mean (n: how many embeddings)."""

    mean: np.ndarray
    mu: float
    var: float
    n: int


def reference_stats(embeddings: np.ndarray) -> ReferenceStats:
    """(K, D) embeddings, K >= 2 -> their ``ReferenceStats``."""
    e = _unit(np.asarray(embeddings, np.float64))
    total = e.sum(axis=0)
    loo = _unit(total[None] - e)  # (K, D) mean of the others
    sims = np.einsum("kd,kd->k", e, loo)
    return ReferenceStats(_unit(total), float(sims.mean()), float(sims.var(ddof=1)), len(e))


def _z_scores(ref: ReferenceStats, units: np.ndarray, pooled_var: float | None, prior_weight: int) -> np.ndarray:
    """(M,) how many of ``ref``'s standard deviations each unit embedding (M, D) lies below ``ref``'s own
    similarity level ``mu``; the variance is shrunk towards ``pooled_var`` with the weight of ``prior_weight``
    embeddings."""
    var = ref.var if pooled_var is None else (ref.n * ref.var + prior_weight * pooled_var) / (ref.n + prior_weight)
    sigma = max(float(np.sqrt(max(var, 0.0))), 1e-6)
    return np.asarray((ref.mu - units @ ref.mean) / sigma)


def switch_scores(ref: ReferenceStats, recent: np.ndarray, others: Sequence[ReferenceStats],
                  pooled_var: float | None = None, prior_weight: int = 0) -> tuple[float, float]:
    """(far, like): ``far`` the least distance, in the track's own standard deviations, of the embeddings
    ``recent`` (M, D) below the track's own similarity level; ``like`` the least, over ``others``, of the largest
    such distance from that other track's level (inf without others). A switch shows as far > sigmas and
    like < sigmas: every new embedding is unusual for the track and usual for someone else."""
    e = _unit(np.asarray(recent, np.float64))
    far = float(_z_scores(ref, e, pooled_var, prior_weight).min())
    like = min((float(_z_scores(o, e, pooled_var, prior_weight).max()) for o in others), default=np.inf)
    return far, like


def is_switch(ref: ReferenceStats, recent: np.ndarray, others: Sequence[ReferenceStats], sigmas: float,
              pooled_var: float | None = None, prior_weight: int = 0) -> bool:
    """Do the embeddings ``recent`` (M, D), taken after a crossing, belong to another person than ``ref``?

    Every one of them lies within ``sigmas`` standard deviations of the similarity level of one of ``others``
    (other tracks' references), and more than ``sigmas`` further below the reference's own level than that:
    usual for someone else, unusual for the track (``switch_scores``). ``pooled_var``: the camera's typical within-track
    variance, which each reference's variance is shrunk towards with the weight of ``prior_weight`` embeddings
    (a short reference's spread is unreliable).
    """
    if not len(recent) or not others:
        return False
    far, like = switch_scores(ref, recent, others, pooled_var, prior_weight)
    return like < sigmas and far > sigmas + max(like, 0.0)


class AppearanceWatch:
    """One track's appearance memory for switch detection.

    reference: un-occluded embeddings taken outside crossings (newest ``reference_size`` kept). While a crossing is
    watched (until frame ``watch_until``), new embeddings go to ``recent`` instead and the reference stays as it
    was before the crossing; when the watch ends without a switch they join the reference.
    """

    def __init__(self, reference_size: int) -> None:
        self.reference: deque[np.ndarray] = deque(maxlen=max(2, reference_size))
        self.recent: deque[np.ndarray] = deque(maxlen=max(2, reference_size))
        self.watch_until = -1
        self._stats: ReferenceStats | None = None

    @property
    def watching(self) -> bool:
        return self.watch_until >= 0

    def crossing(self, frame_index: int, watch_frames: int) -> None:
        """The track was near someone in frame ``frame_index``: watch its appearance for ``watch_frames`` more."""
        self.watch_until = max(self.watch_until, frame_index + watch_frames)

    def add(self, feature: np.ndarray) -> None:
        """An un-occluded embedding (D,) of the track's detection in this frame."""
        if self.watching:
            self.recent.append(feature)
        else:
            self.reference.append(feature)
            self._stats = None

    def end_watch_if_due(self, frame_index: int) -> None:
        """After ``watch_until``, the embeddings of the watch join the reference."""
        if self.watching and frame_index > self.watch_until:
            self.reference.extend(self.recent)
            self.recent.clear()
            self.watch_until = -1
            self._stats = None

    def stats(self) -> ReferenceStats | None:
        """The reference's statistics (cached), None with fewer than 2 embeddings."""
        if self._stats is None and len(self.reference) >= 2:
            self._stats = reference_stats(np.array(self.reference))
        return self._stats

    def restart(self, embeddings: Sequence[np.ndarray]) -> None:
        """After a split: the new track's reference is ``embeddings`` (the ones after the switch), no watch."""
        self.reference.clear()
        self.reference.extend(embeddings)
        self.recent.clear()
        self.watch_until = -1
        self._stats = None
