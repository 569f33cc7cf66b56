"""``mctrack eval``: score MOTChallenge prediction files against ground truth (TrackEval HOTA / CLEAR / Identity).

Usage::

    mctrack eval --gt-dir ../shared/data/pets-s2l1-dev/two-cam --pred-dir runs/two-cam [--cameras cam1,cam2] [--json]

Ground truth is ``<gt-dir>/<camera>/gt.txt`` (and ``seqinfo.ini`` for the frame count) or MOTChallenge's layout
``<gt-dir>/<seq>/gt/gt.txt`` + ``<gt-dir>/<seq>/seqinfo.ini`` (``--gt-dir`` may also be one sequence folder);
predictions are ``<pred-dir>/<camera>.txt``. Both MOTChallenge gt dialects are read (``--gt-format``): MOT15
(``...,conf,x,y,z``, conf 0 = ignored) and MOT16/17 (``...,consider,class,visibility``: pedestrians with
consider 1 count, predictions on distractors are removed), each as TrackEval's MOTChallenge preprocessing does.
Prints one row per camera and, for two or more cameras, the cross-camera row ``MTMC`` (all cameras as one
sequence with global ids; its HOTA / IDF1 are MTMC-HOTA / MTMC-IDF1). Scores are
fractions (1.000 = perfect); see ``tracker.offline.evaluation`` for the exact protocol.

``--json`` prints one JSON object instead of the table, with keys:

* ``gt_dir``, ``pred_dir``: the folders as given;
* ``camera_order``: camera names, sorted (the order of the cross-camera concatenation);
* ``cameras``: camera -> scores;
* ``cross_camera``: scores of the MTMC row (``name`` = ``"MTMC"``), or null for a single camera;
* ``mtmc_hota``, ``mtmc_idf1``: the cross-camera HOTA and IDF1 (null for a single camera).

Each scores object has: ``name``; ``hota``, ``deta``, ``assa``, ``loca`` (averaged over IoU 0.05..0.95);
``mota``, ``motp``, ``idf1``, ``idp``, ``idr`` (IoU 0.5; fractions); ``idsw``, ``tp``, ``fp``, ``fn`` (counts at
IoU 0.5); ``num_gt_dets``, ``num_pred_dets``, ``num_gt_ids``, ``num_pred_ids``, ``num_frames``.

Exit status: 0 on success, 2 for unusable input (missing files, malformed lines), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.offline.evaluation import EvaluationResult

__all__ = ["register", "run", "format_table"]

# (header, attribute, is_count) of the table's score columns
_TABLE_COLUMNS = [
    ("HOTA", "hota", False),
    ("DetA", "deta", False),
    ("AssA", "assa", False),
    ("MOTA", "mota", False),
    ("IDF1", "idf1", False),
    ("IDSW", "idsw", True),
    ("FP", "fp", True),
    ("FN", "fn", True),
    ("GT ids", "num_gt_ids", True),
    ("pred ids", "num_pred_ids", True),
]
_SCORE_DECIMALS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score MOTChallenge predictions against ground truth (per camera and cross-camera)",
        description="Score <pred-dir>/<camera>.txt against <gt-dir>/<camera>/gt.txt (or MOTChallenge's "
                    "<gt-dir>/<seq>/gt/gt.txt + seqinfo.ini) with TrackEval's HOTA, "
                    "CLEAR (MOTA) and Identity (IDF1) metrics; with two or more cameras also the cross-camera "
                    "MTMC row (all cameras as one sequence, ids must agree across cameras).")
    parser.add_argument("--gt-dir", required=True,
                        help="ground-truth folder holding <camera>/gt.txt or <seq>/gt/gt.txt, or one MOTChallenge "
                             "sequence folder")
    parser.add_argument("--pred-dir", required=True, help="folder holding one <camera>.txt per camera")
    parser.add_argument("--cameras", default=None,
                        help="comma-separated cameras to evaluate (default: every <gt-dir>/<camera>/gt.txt)")
    parser.add_argument("--gt-file", default="gt.txt",
                        help="ground-truth file name in each camera folder (default gt.txt; e.g. gt_annotation.txt "
                             "for the annotation's own ids, where a returning person gets a new id)")
    parser.add_argument("--gt-format", choices=("auto", "mot15", "mot16"), default="auto",
                        help="ground-truth dialect: mot15 (frame,id,l,t,w,h,conf,x,y,z; conf 0 = ignore), mot16 "
                             "(MOT16/17: frame,id,l,t,w,h,consider,class,visibility; distractor classes handled as "
                             "TrackEval does) or auto (default: mot16 when the file has that layout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.set_defaults(func=run)


def format_table(result: EvaluationResult) -> str:
    """Fixed-width table: one row per camera, then the MTMC row; scores with 3 decimals."""
    rows = result.rows()
    name_width = max([len("camera")] + [len(r.name) for r in rows])
    widths = [max(len(h), _SCORE_DECIMALS + 3) for h, _, _ in _TABLE_COLUMNS]
    header = "  ".join([f"{'camera':<{name_width}}"] + [f"{h:>{w}}" for (h, _, _), w in zip(_TABLE_COLUMNS, widths)])
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for (_, attr, is_count), width in zip(_TABLE_COLUMNS, widths):
            value = getattr(row, attr)
            cells.append(f"{value:>{width}d}" if is_count else f"{value:>{width}.{_SCORE_DECIMALS}f}")
        if row is result.cross_camera:
            lines.append("-" * len(header))
        lines.append("  ".join([f"{row.name:<{name_width}}"] + cells))
    if result.cross_camera is not None:
        lines.append(f"MTMC-HOTA = {result.mtmc_hota:.{_SCORE_DECIMALS}f}   "
                     f"MTMC-IDF1 = {result.mtmc_idf1:.{_SCORE_DECIMALS}f}   "
                     f"(cameras {', '.join(result.camera_order)} as one sequence; ids must agree across cameras)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tracker.offline.evaluation import EvaluationError, evaluate_dirs
    from tracker.offline.motio import MotFormatError

    cameras = None
    if args.cameras is not None:
        cameras = [c.strip() for c in args.cameras.split(",") if c.strip()]
        if not cameras:
            print("mctrack eval: error: --cameras is empty; give camera names like cam1,cam2", file=sys.stderr)
            return 2
    try:
        result = evaluate_dirs(args.gt_dir, args.pred_dir, cameras, gt_file=args.gt_file,
                               gt_format=args.gt_format)
    except (EvaluationError, MotFormatError) as exc:
        print(f"mctrack eval: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {"gt_dir": str(args.gt_dir), "pred_dir": str(args.pred_dir), **result.to_dict()}
        print(json.dumps(payload, indent=2))
    else:
        print(format_table(result))
    return 0
