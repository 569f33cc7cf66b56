"""Which identity errors a replay makes: switches inside local tracks, fragments, cross-camera mismatches.

Boxes are matched to the ground truth per frame (Hungarian, IoU >= 0.5, as TrackEval's IDF1). Then, for a replay
through the hub (``OUT/NAME.txt`` global ids, ``OUT/local/NAME.txt`` camera-local ids):

* ``switches``: local tracks that cover two or more gt people for at least ``--min-s`` seconds each (the
  per-camera tracker jumped from one person to another; no hub can give both parts the right id). Also printed:
  the gt frames lost to them (matched frames of a switched track outside its main person).
* ``local fragments``: per camera, (local tracks of a gt person, each covering it for ``--min-s``) - 1, summed.
* ``global fragments``: the same with global ids: pieces of one person in one camera the hub did not re-link.
* ``cross-camera mismatches``: gt people seen in two or more cameras whose main global id differs between
  cameras (counted per extra id).
* ``merged people``: global ids that are the main id of two or more gt people (counted per extra person).

    python benchmarks/track_error_breakdown.py --gt-dir ../shared/data/pets-s2l1-dev/two-cam --out runs/two-cam
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.core.boxes import iou_matrix, tlwh_to_xyxy
from tracker.offline.evaluation import GT_FILE, list_gt_cameras
from tracker.offline.motio import read_mot, read_seqinfo

MATCH_IOU = 0.5  # TrackEval's IDF1 / CLEAR similarity threshold


def coverage(gt: np.ndarray, pred: np.ndarray) -> dict[tuple[int, int], int]:
    """(pred id, gt id) -> frames in which that prediction box is matched to that gt box. gt, pred: MOT rows."""
    cover: dict[tuple[int, int], int] = collections.Counter()
    frames = np.union1d(gt[:, 0], pred[:, 0])
    for f in frames:
        g, p = gt[gt[:, 0] == f], pred[pred[:, 0] == f]
        if not len(g) or not len(p):
            continue
        iou = iou_matrix(tlwh_to_xyxy(p[:, 2:6]), tlwh_to_xyxy(g[:, 2:6]))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= MATCH_IOU:
                cover[(int(p[r, 1]), int(g[c, 1]))] += 1
    return cover


def switches(cover: dict[tuple[int, int], int], min_frames: int) -> tuple[int, int, list[str]]:
    """(tracks covering >= 2 gt people for >= min_frames each, frames outside each such track's main person,
    descriptions)."""
    by_pred: dict[int, dict[int, int]] = collections.defaultdict(dict)
    for (p, g), n in cover.items():
        by_pred[p][g] = n
    count, lost, desc = 0, 0, []
    for p, gs in sorted(by_pred.items()):
        big = {g: n for g, n in gs.items() if n >= min_frames}
        if len(big) >= 2:
            count += 1
            lost += sum(gs.values()) - max(gs.values())
            desc.append(f"track {p}: " + ", ".join(f"gt {g} x{n}" for g, n in sorted(big.items())))
    return count, lost, desc


def fragments(cover: dict[tuple[int, int], int], min_frames: int) -> int:
    """Sum over gt people of (pred ids covering it for >= min_frames) - 1."""
    by_gt: dict[int, int] = collections.Counter()
    for (_, g), n in cover.items():
        if n >= min_frames:
            by_gt[g] += 1
    return sum(max(0, k - 1) for k in by_gt.values())


def main_ids(cover: dict[tuple[int, int], int]) -> dict[int, int]:
    """gt id -> the pred id covering it most."""
    best: dict[int, tuple[int, int]] = {}
    for (p, g), n in cover.items():
        if g not in best or n > best[g][1]:
            best[g] = (p, n)
    return {g: p for g, (p, _) in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gt-dir", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path, help="replay output (with the hub: NAME.txt and local/)")
    ap.add_argument("--gt-file", default=GT_FILE)
    ap.add_argument("--min-s", type=float, default=1.0, help="seconds a track must cover a person to count")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the switched tracks")
    args = ap.parse_args()
    cams = list_gt_cameras(args.gt_dir, args.gt_file)
    totals: dict[str, int] = collections.Counter()
    mains: dict[str, dict[int, int]] = {}
    merged: dict[int, set[int]] = collections.defaultdict(set)
    for cam in cams:
        gt = read_mot(args.gt_dir / cam / args.gt_file)
        gt = gt[gt[:, 6] != 0] if gt.shape[1] > 6 else gt
        fps = float(read_seqinfo(args.gt_dir / cam).get("frameRate", 25))
        min_frames = max(1, int(round(args.min_s * fps)))
        local_path = args.out / "local" / f"{cam}.txt"
        local = read_mot(local_path if local_path.exists() else args.out / f"{cam}.txt")
        lc = coverage(gt, local)
        n_sw, lost, desc = switches(lc, min_frames)
        row = {"switches": n_sw, "switch_frames": lost, "local_fragments": fragments(lc, min_frames)}
        if local_path.exists():
            gc = coverage(gt, read_mot(args.out / f"{cam}.txt"))
            row["global_fragments"] = fragments(gc, min_frames)
            mains[cam] = main_ids(gc)
            for g, p in mains[cam].items():
                merged[p].add(g)
        print(f"{cam}: " + "  ".join(f"{k} {v}" for k, v in row.items()))
        if args.verbose:
            for d in desc:
                print(f"    {d}")
        for k, v in row.items():
            totals[k] += v
    if len(mains) >= 2:
        people: dict[int, set[int]] = collections.defaultdict(set)
        for m in mains.values():
            for g, p in m.items():
                people[g].add(p)
        totals["cross_camera_mismatches"] = sum(len(ps) - 1 for ps in people.values())
    if mains:
        totals["merged_people"] = sum(len(gs) - 1 for gs in merged.values())
    print("total: " + "  ".join(f"{k} {v}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
