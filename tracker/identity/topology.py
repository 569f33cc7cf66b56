"""Camera topology: which cameras may see one person at once, and least transition times between the others."""

from __future__ import annotations

import math

from tracker.identity.params import TopologyParams

__all__ = ["SAME_CAMERA_MIN_GAP_S", "Topology"]

# Two tracks of one camera whose time spans are closer than this are simultaneous (same frame counts as overlap).
SAME_CAMERA_MIN_GAP_S = 1e-6


class Topology:
    """Which cameras may see one person at the same time, and least transition times between the others.

    ``min_gap_s(a, b)``: two tracks of one identity in cameras a and b must be at least this far apart in time
    (gap = later start - earlier end; negative when the spans overlap). ``-inf`` for cameras that may overlap,
    :data:`SAME_CAMERA_MIN_GAP_S` within one camera.
    """

    def __init__(self, params: TopologyParams | None = None) -> None:
        params = params or TopologyParams()
        if params.default_relation not in ("may_overlap", "disjoint"):
            raise ValueError(f"default camera relation {params.default_relation!r}: use may_overlap or disjoint")
        self.default_relation = params.default_relation
        self.default_min_transition_s = float(params.default_min_transition_s)
        self._pairs: dict[frozenset[str], float] = {}
        for i, link in enumerate(params.links):
            a, b = link.camera_a, link.camera_b
            if not a or not b or a == b:
                raise ValueError(f"camera link {i}: camera_a and camera_b must be two different camera names, "
                                 f"got {a!r} and {b!r}")
            pair = frozenset((a, b))
            if pair in self._pairs:
                raise ValueError(f"camera link {i}: the pair {a}/{b} is listed twice")
            transition_s = self.default_min_transition_s if link.min_transition_s is None else link.min_transition_s
            self._pairs[pair] = -math.inf if link.overlap else max(float(transition_s), SAME_CAMERA_MIN_GAP_S)

    def min_gap_s(self, camera_a: str, camera_b: str) -> float:
        if camera_a == camera_b:
            return SAME_CAMERA_MIN_GAP_S
        known = self._pairs.get(frozenset((camera_a, camera_b)))
        if known is not None:
            return known
        if self.default_relation == "may_overlap":
            return -math.inf
        return max(self.default_min_transition_s, SAME_CAMERA_MIN_GAP_S)
