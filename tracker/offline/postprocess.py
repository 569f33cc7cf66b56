"""Offline post-processing of MOTChallenge files written by a replay (pure numpy, no models)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np

from tracker.offline.motio import read_mot, write_mot

__all__ = ["relabel_rows", "relabel_mot_file", "interpolate_rows", "interpolate_mot_file", "UNMAPPED_ID_BASE"]

log = logging.getLogger(__name__)

#: Local tracks the hub never gave a global id are written as UNMAPPED_ID_BASE * camera_number + local id,
#: so they never collide with a global id or with another camera's unmapped tracks.
UNMAPPED_ID_BASE = 1_000_000


def relabel_rows(rows: np.ndarray, mapping: Mapping[int, int], unmapped_offset: int) -> np.ndarray:
    """rows: (N, >=6) MOT rows with local ids -> copy with ids replaced by ``mapping`` (local -> global);
    ids missing from the mapping become ``unmapped_offset + local id``."""
    out = np.array(rows, dtype=np.float64, copy=True)
    if len(out):
        out[:, 1] = [mapping.get(int(i), unmapped_offset + int(i)) for i in out[:, 1]]
    return out


def relabel_mot_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], mapping: Mapping[int, int],
                     unmapped_offset: int = UNMAPPED_ID_BASE) -> None:
    rows = read_mot(src)
    out = relabel_rows(rows, mapping, unmapped_offset)
    if len(out):
        # Two local tracks of one camera mapped to one global id in the same frame: keep the more confident.
        order = np.lexsort((-out[:, 6], out[:, 1], out[:, 0]))
        out = out[order]
        keep = np.ones(len(out), bool)
        keep[1:] = ~((out[1:, 0] == out[:-1, 0]) & (out[1:, 1] == out[:-1, 1]))
        if (~keep).any():
            log.warning("%s: %d boxes dropped where two local tracks shared a global id in one frame", dst,
                        int((~keep).sum()))
        out = out[keep]
    write_mot(dst, out)


def interpolate_rows(rows: np.ndarray, max_gap_frames: int) -> np.ndarray:
    """Fill gaps of at most ``max_gap_frames`` missing frames inside each track by linear interpolation of the
    box (tlwh). rows: (N, 10). Interpolated rows get the lower confidence of their two ends."""
    if len(rows) == 0 or max_gap_frames <= 0:
        return rows
    new_rows = [rows]
    for tid in np.unique(rows[:, 1]):
        tr = rows[rows[:, 1] == tid]
        tr = tr[np.argsort(tr[:, 0])]
        frames = tr[:, 0]
        gaps = np.flatnonzero((np.diff(frames) > 1) & (np.diff(frames) <= max_gap_frames + 1))
        for g in gaps:
            a, b = tr[g], tr[g + 1]
            for f in range(int(a[0]) + 1, int(b[0])):
                w = (f - a[0]) / (b[0] - a[0])
                row = a.copy()
                row[0] = f
                row[2:6] = (1 - w) * a[2:6] + w * b[2:6]
                row[6] = min(a[6], b[6])
                new_rows.append(row[None, :])
    return np.concatenate(new_rows)


def interpolate_mot_file(path: str | os.PathLike[str], max_gap_frames: int) -> None:
    write_mot(path, interpolate_rows(read_mot(path), max_gap_frames))
