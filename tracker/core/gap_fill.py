"""Gap filling: the boxes a confirmed track missed, written late, once the track is found again.

A person the detector misses for a few frames (occlusion, a low score) is still there; when the track takes a
detection again after ``k`` missed frames, the boxes of those ``k`` frames are interpolated linearly between the
track's last output box before the gap and its output box now (ByteTrack's and StrongSORT's interpolation, done
online: the rows arrive ``k + 1`` frames late, like the boxes of a tentative track written when it is confirmed).
Only gaps of at most a bounded number of frames are filled: over longer ones a walker turns or stops, and a
straight line between the ends no longer follows them. A track that never comes back gets no boxes.
"""

from __future__ import annotations

import numpy as np

from tracker.core.track import BoxRecord

__all__ = ["interpolate_gap", "gap_fill_max_frames"]

# A bound of exactly k / fps seconds must allow k frames despite the rounding of the product.
_FRAME_ROUNDING_EPS = 1e-6


def gap_fill_max_frames(max_gap_s: float, fps: float) -> int:
    """The longest gap to fill, in frames of a camera at ``fps``: ``max_gap_s`` seconds rounded down (a gap is
    never filled beyond the bound in time); 0 = off."""
    if max_gap_s <= 0 or fps <= 0:
        return 0
    return int(max_gap_s * fps + _FRAME_ROUNDING_EPS)


def interpolate_gap(before: BoxRecord, after: BoxRecord) -> list[BoxRecord]:
    """The boxes of the frames strictly between ``before`` and ``after`` (one record per frame, in order), linear
    in time between the two boxes (xyxy, pixels). Their confidence is the lower of the two ends: a filled box is
    no surer than the detections around it. Empty when the frames are adjacent (or not in order)."""
    f0, f1 = before.frame_index, after.frame_index
    if f1 - f0 < 2:
        return []
    a = np.asarray(before.xyxy, dtype=np.float64)
    b = np.asarray(after.xyxy, dtype=np.float64)
    confidence = min(before.confidence, after.confidence)
    span = float(f1 - f0)
    return [BoxRecord(f, a + (b - a) * ((f - f0) / span), confidence) for f in range(f0 + 1, f1)]
