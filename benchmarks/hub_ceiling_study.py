"""How far a cross-camera identity figure is from what the per-camera tracks allow (MTMC-IDF1 ceilings).

Given the ground truth and two replay outputs of the same cameras -- one with ``--no-hub`` (camera-local ids) and
one through the hub (global ids) -- it prints, per camera and for all cameras as one sequence (MTMC):

* ``detection ceiling``: 2 TP / (|GT| + |pred|) with TP = boxes matched at IoU >= 0.5 (Hungarian per frame): the
  IDF1 no id assignment can beat with these boxes.
* ``oracle hub``: every local track relabelled with the gt id it covers most (a perfect hub that cannot split a
  local track): what the hub could reach with these local tracks.
* ``local ids`` (the ``--no-hub`` run) and ``hub`` (the run through the hub).

With ``--merge-ids 19=1,15=14`` the same rows are also printed against a ground truth in which those gt ids are
one person (for annotations that give a person a new id when they come back into view, as PETS2009 S2L1 does).

    .venv/bin/mctrack replay --config config/pets-dev.yaml --camera cam1=... --camera cam2=... --out runs/hub
    .venv/bin/mctrack replay --config config/pets-dev.yaml --camera cam1=... --camera cam2=... --out runs/local \\
        --no-hub
    .venv/bin/python benchmarks/hub_ceiling_study.py --gt-dir ../shared/data/pets-s2l1-dev/two-cam \\
        --local-dir runs/local --hub-dir runs/hub [--merge-ids 19=1,15=14]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.core.boxes import iou_matrix, tlwh_to_xyxy
from tracker.offline.evaluation import GT_FILE, evaluate_cameras, list_gt_cameras
from tracker.offline.motio import read_mot

MATCH_IOU = 0.5  # TrackEval's IDF1 / CLEAR similarity threshold


def match_frame(gt: np.ndarray, pred: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian IoU matches (pred row, gt row) at IoU >= MATCH_IOU of one frame's rows (N, >= 6)."""
    if not len(gt) or not len(pred):
        return []
    iou = iou_matrix(tlwh_to_xyxy(pred[:, 2:6]), tlwh_to_xyxy(gt[:, 2:6]))
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if iou[i, j] >= MATCH_IOU]


def by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    out: dict[int, list[np.ndarray]] = collections.defaultdict(list)
    for r in rows:
        out[int(r[0])].append(r)
    return {f: np.array(v) for f, v in out.items()}


def detection_ceiling(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """(TP, |GT|, |pred|) over all frames."""
    g, p = by_frame(gt), by_frame(pred)
    tp = sum(len(match_frame(g.get(f, np.zeros((0, 6))), p.get(f, np.zeros((0, 6))))) for f in g)
    return tp, len(gt), len(pred)


def oracle_relabel(gt: np.ndarray, pred: np.ndarray, unmatched_base: int) -> np.ndarray:
    """Each predicted track id -> the gt id it matches most often; a frame's duplicate ids keep the first box."""
    g, p = by_frame(gt), by_frame(pred)
    votes: dict[int, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for f, prow in p.items():
        grow = g.get(f, np.zeros((0, 6)))
        for i, j in match_frame(grow, prow):
            votes[int(prow[i, 1])][int(grow[j, 1])] += 1
    best = {tid: c.most_common(1)[0][0] for tid, c in votes.items()}
    out = pred.copy()
    out[:, 1] = [best.get(int(t), unmatched_base + int(t)) for t in pred[:, 1]]
    _, first = np.unique(out[:, :2], axis=0, return_index=True)
    return out[np.sort(first)]


def merge_ids(gt: np.ndarray, pairs: dict[int, int]) -> np.ndarray:
    out = gt.copy()
    out[:, 1] = [pairs.get(int(t), int(t)) for t in gt[:, 1]]
    return out


def report(title: str, gt: dict[str, np.ndarray], local: dict[str, np.ndarray], hub: dict[str, np.ndarray],
           frames: dict[str, int | None]) -> None:
    cams = sorted(gt)
    print(f"\n{title}")
    print(f"{'':18s}" + "".join(f"{c:>10s}" for c in cams) + f"{'MTMC':>10s}")
    tps = {c: detection_ceiling(gt[c], local[c]) for c in cams}
    cells = [2 * tp / (ng + npred) for tp, ng, npred in tps.values()]
    tp, ng, npred = (sum(v[k] for v in tps.values()) for k in range(3))
    print(f"{'detection ceiling':18s}" + "".join(f"{x:10.3f}" for x in cells) + f"{2 * tp / (ng + npred):10.3f}")
    oracle = {c: oracle_relabel(gt[c], local[c], 100000 * (i + 1)) for i, c in enumerate(cams)}
    for name, pred in (("oracle hub", oracle), ("local ids", local), ("hub", hub)):
        r = evaluate_cameras(gt, pred, frames)
        mtmc = r.mtmc_idf1
        print(f"{name:18s}" + "".join(f"{r.cameras[c].idf1:10.3f}" for c in cams)
              + (f"{mtmc:10.3f}" if mtmc is not None else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt-dir", required=True, type=Path)
    parser.add_argument("--local-dir", required=True, type=Path, help="replay output with --no-hub")
    parser.add_argument("--hub-dir", required=True, type=Path, help="replay output through the hub")
    parser.add_argument("--merge-ids", default="", help="gt ids that are one person, e.g. 19=1,15=14")
    args = parser.parse_args()
    cams = list_gt_cameras(args.gt_dir)
    gt = {c: read_mot(args.gt_dir / c / GT_FILE) for c in cams}
    local = {c: read_mot(args.local_dir / f"{c}.txt") for c in cams}
    hub = {c: read_mot(args.hub_dir / f"{c}.txt") for c in cams}
    frames: dict[str, int | None] = {c: None for c in cams}
    report("ground truth as given (IDF1)", gt, local, hub, frames)
    if args.merge_ids:
        pairs = {int(a): int(b) for a, b in (p.split("=") for p in args.merge_ids.split(","))}
        report(f"ground truth with ids merged {pairs} (IDF1)", {c: merge_ids(g, pairs) for c, g in gt.items()},
               local, hub, frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
