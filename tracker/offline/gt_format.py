"""The two MOTChallenge ground-truth dialects, and TrackEval's own preprocessing of them.

* ``mot15`` (2D MOT 2015: TUD-*, KITTI-17, PETS ...): ``frame,id,left,top,width,height,conf,x,y,z``; a gt box
  whose ``conf`` is 0 is ignored. There are no classes: every prediction is kept.
* ``mot16`` (MOT16/17): ``frame,id,left,top,width,height,consider,class,visibility``; only class 1 (pedestrian)
  with ``consider`` 1 is ground truth. Predictions matched (IoU >= 0.5, Hungarian) to a box of a distractor class
  (2 person on vehicle, 7 static person, 8 distractor, 12 reflection) are removed before scoring, neither true nor
  false positives; boxes of other classes (vehicles, occluders) are neither gt nor removed.

Both are applied by TrackEval itself: :func:`preprocess_frames` hands the rows to
``trackeval.datasets.MotChallenge2DBox.get_preprocessed_seq_data`` (benchmark ``MOT15`` or ``MOT17``) and keeps
the rows it keeps, so scores equal TrackEval's MOTChallenge evaluation of the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from tracker.offline.motio import COL_CONF, COL_ID, COL_LEFT, MotFormatError

__all__ = ["GT_FORMATS", "GtFormat", "MOT16_CLASS_IDS", "detect_gt_format", "resolve_gt_format",
           "preprocess_frames"]

GtFormat = Literal["mot15", "mot16"]
GT_FORMATS = ("auto", "mot15", "mot16")  # values of `mctrack eval --gt-format`
# MOT16/17 gt classes (column 8), as TrackEval numbers them
MOT16_CLASS_IDS = {"pedestrian": 1, "person_on_vehicle": 2, "car": 3, "bicycle": 4, "motorbike": 5,
                   "non_mot_vehicle": 6, "static_person": 7, "distractor": 8, "occluder": 9,
                   "occluder_on_ground": 10, "occluder_full": 11, "reflection": 12, "crowd": 13}
COL_CLASS, COL_VISIBILITY, COL_LAST = 7, 8, 9  # 0-based columns of a MOT16 row (10th column absent: read as -1)
_ABSENT = -1.0  # what motio.read_mot puts in a missing column
_BENCHMARK: dict[GtFormat, str] = {"mot15": "MOT15", "mot16": "MOT17"}  # TrackEval's name; MOT16 = MOT17 rules
_TRACKEVAL_CLASS = "pedestrian"


def _mot16_problem(gt: np.ndarray) -> str:
    """Why (N, 10) rows are not MOT16 ground truth ('' when they are)."""
    if len(gt) == 0:
        return "the file is empty"
    if (gt[:, COL_LAST] != _ABSENT).any():
        return "rows have a 10th column (MOT16 gt has 9: ...,consider,class,visibility)"
    classes = gt[:, COL_CLASS]
    bad = ~np.isin(classes, list(MOT16_CLASS_IDS.values()))
    if bad.any():
        return (f"column 8 (class) holds {classes[bad][0]:g}; MOT16 classes are "
                f"{min(MOT16_CLASS_IDS.values())}..{max(MOT16_CLASS_IDS.values())}")
    vis = gt[:, COL_VISIBILITY]
    if ((vis < 0) | (vis > 1)).any():
        return "column 9 (visibility) must lie in [0, 1]"
    return ""


def detect_gt_format(gt: np.ndarray) -> GtFormat:
    """``mot16`` when every row has 9 columns with a MOT16 class in column 8 and a visibility in [0, 1] in
    column 9; else ``mot15``. ``gt``: (N, 10) rows from :func:`tracker.offline.motio.read_mot`."""
    return "mot16" if not _mot16_problem(gt) else "mot15"


def resolve_gt_format(requested: str, gt: np.ndarray, where: str) -> GtFormat:
    """The dialect to score ``gt`` with: ``requested`` (``auto``, ``mot15`` or ``mot16``), auto-detected for auto.

    Raises:
        MotFormatError: an unknown dialect, or ``mot16`` for rows that are not MOT16 ground truth (``where``
            names the file).
    """
    if requested == "auto":
        return detect_gt_format(gt)
    if requested == "mot15":
        return "mot15"
    if requested == "mot16":
        problem = _mot16_problem(gt)
        if problem:
            raise MotFormatError(f"{where}: not MOT16/17 ground truth ({problem}); use --gt-format mot15 or auto")
        return "mot16"
    raise MotFormatError(f"gt format {requested!r} is unknown: use one of {', '.join(GT_FORMATS)}")


def _dataset(benchmark: str) -> Any:
    """TrackEval's MOTChallenge dataset without files: only its per-sequence preprocessing is used."""
    from trackeval.datasets import MotChallenge2DBox  # noqa: PLC0415  (slow import; only when evaluating)
    from trackeval.datasets._base_dataset import _BaseDataset  # noqa: PLC0415

    class _InMemory(MotChallenge2DBox):
        def __init__(self) -> None:  # MotChallenge2DBox's own __init__ checks a folder layout on disk
            _BaseDataset.__init__(self)
            self.benchmark = benchmark
            self.do_preproc = True
            self.class_name_to_class_id = dict(MOT16_CLASS_IDS)
            self.valid_class_numbers = list(MOT16_CLASS_IDS.values())

    return _InMemory()


def _contiguous_ids(per_frame: Sequence[np.ndarray]) -> list[np.ndarray]:
    ids = [f[:, COL_ID].astype(np.int64) for f in per_frame]
    every = np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)
    return [np.searchsorted(every, i) for i in ids]


def preprocess_frames(gt_frames: Sequence[np.ndarray], pred_frames: Sequence[np.ndarray], gt_format: GtFormat,
                      name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The gt and predicted rows that count, per frame, as TrackEval's MOTChallenge preprocessing decides.

    Args:
        gt_frames, pred_frames: per frame (index t = frame t + 1) the (G, 10) / (P, 10) MOT rows of that frame;
            ids unique within a frame.
        gt_format: ``mot15`` (drop gt with conf 0) or ``mot16`` (see the module docstring).
        name: sequence name (TrackEval's messages).
    Returns:
        The kept rows per frame, in their original order.
    """
    from trackeval.utils import TrackEvalException  # noqa: PLC0415

    from tracker.offline.evaluation import iou_matrix_tlwh  # noqa: PLC0415  (evaluation imports this module)

    n = len(gt_frames)
    box = slice(COL_LEFT, COL_LEFT + 4)

    def tagged(rows: np.ndarray) -> np.ndarray:
        """(R, 5): the tlwh box and the row's position in its frame, carried through TrackEval's deletions."""
        return np.concatenate([rows[:, box], np.arange(len(rows), dtype=np.float64)[:, None]], axis=1)

    raw = {
        "num_timesteps": n, "seq": name,
        "gt_ids": _contiguous_ids(gt_frames), "tracker_ids": _contiguous_ids(pred_frames),
        "gt_classes": [g[:, COL_CLASS].astype(int) for g in gt_frames],
        "gt_dets": [tagged(g) for g in gt_frames],
        "gt_extras": [{"zero_marked": g[:, COL_CONF].astype(int)} for g in gt_frames],  # TrackEval's int cast
        "gt_crowd_ignore_regions": [np.empty((0, 4)) for _ in range(n)],
        "tracker_classes": [np.ones(len(p), dtype=int) for p in pred_frames],
        "tracker_dets": [tagged(p) for p in pred_frames],
        "tracker_confidences": [p[:, COL_CONF] for p in pred_frames],
        "similarity_scores": [iou_matrix_tlwh(g[:, box], p[:, box]) for g, p in zip(gt_frames, pred_frames)],
    }
    try:
        data = _dataset(_BENCHMARK[gt_format]).get_preprocessed_seq_data(raw, _TRACKEVAL_CLASS)
    except TrackEvalException as exc:  # invalid classes and the like
        raise MotFormatError(f"{name}: TrackEval refused the ground truth: {exc}") from None
    gt_kept = [g[data["gt_dets"][t][:, 4].astype(int)] for t, g in enumerate(gt_frames)]
    pred_kept = [p[data["tracker_dets"][t][:, 4].astype(int)] for t, p in enumerate(pred_frames)]
    return gt_kept, pred_kept

