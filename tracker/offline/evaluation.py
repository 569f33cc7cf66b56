"""Per-camera and cross-camera (MTMC) tracking scores with TrackEval's HOTA, CLEAR and Identity metrics.

The metric classes of the PyPI ``trackeval`` package are used directly (``eval_sequence(data)``); this module
builds their input as TrackEval's MOTChallenge loader does, and leaves the choice of which gt and predicted rows
count to TrackEval's own MOTChallenge preprocessing (:mod:`tracker.offline.gt_format`), for either gt dialect:

* ``mot15``: gt rows whose column 7 ("consider" / zero-marked flag) is 0 are dropped; all predictions are kept;
* ``mot16`` (MOT16/17 ``...,consider,class,visibility``): only class 1 with consider 1 is gt, and predictions
  matched to a distractor (person on vehicle, static person, distractor, reflection) are removed;
* ``auto`` (default): ``mot16`` when the file has that layout, else ``mot15``;
* per timestep, similarity = IoU of the ``tlwh`` boxes; ids are relabelled to contiguous 0-based ints over the
  evaluated sequence; ids must be unique within a frame. No crowd-ignore regions, no confidence threshold.

Scores are fractions in [0, 1] (MOTA can be negative). HOTA, DetA, AssA and LocA are averaged over the IoU
thresholds 0.05..0.95 (TrackEval's summary); MOTA/MOTP/IDSW and IDF1/IDP/IDR use IoU >= 0.5.

Cross-camera row: all cameras are evaluated as ONE sequence, the cameras' frames concatenated in sorted camera
order, with ids taken as global. A person must therefore keep one predicted id in every camera to score well.
This equals the data README's protocol of shifting camera i's frames by i * 100000: the metrics skip frames
without ground truth and predictions without touching any state, so the empty frames in between change
nothing (``tests/test_evaluation.py`` checks the two against each other). Only computed for >= 2 cameras.

Layouts read by :func:`evaluate_dirs` (predictions always ``<pred_dir>/<camera>.txt``):

* ``<gt_dir>/<camera>/gt.txt``, plus an optional ``<gt_dir>/<camera>/seqinfo.ini`` whose ``seqLength`` is the
  frame count (the ``pets-s2l1-dev`` layout);
* MOTChallenge's own: ``<gt_dir>/<seq>/gt/gt.txt`` with a required ``<gt_dir>/<seq>/seqinfo.ini``; ``gt_dir``
  may also be one sequence folder itself (camera = the folder's name).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tracker.offline.gt_format import preprocess_frames, resolve_gt_format
from tracker.offline.motio import (
    COL_CONF,
    COL_FRAME,
    COL_ID,
    COL_LEFT,
    MOT_NUM_COLUMNS,
    MotFormatError,
    read_mot,
    read_seqinfo,
)

__all__ = [
    "EvaluationError",
    "MissingPredictionError",
    "SequenceScores",
    "EvaluationResult",
    "CROSS_CAMERA_NAME",
    "MATCH_IOU_THRESHOLD",
    "iou_matrix_tlwh",
    "build_sequence_data",
    "evaluate_data",
    "evaluate_sequence",
    "evaluate_cameras",
    "list_gt_cameras",
    "evaluate_dirs",
]

logger = logging.getLogger(__name__)

CROSS_CAMERA_NAME = "MTMC"  # name of the cross-camera row
MATCH_IOU_THRESHOLD = 0.5  # IoU for a true positive in CLEAR (MOTA, IDSW) and Identity (IDF1); MOTChallenge value
GT_FILE = "gt.txt"
MOT_GT_DIR = "gt"  # MOTChallenge layout: <seq>/gt/gt.txt beside <seq>/seqinfo.ini
SEQINFO_FILE = "seqinfo.ini"
PRED_SUFFIX = ".txt"
GT_CONSIDER_COL = COL_CONF  # column 7 of gt: 0 = zero-marked / ignore, anything else = evaluate
_EPS = np.finfo(float).eps  # TrackEval's tolerance in its IoU


class EvaluationError(ValueError):
    """Inputs that cannot be evaluated; the message names the camera / file and what is expected."""


class MissingPredictionError(EvaluationError, FileNotFoundError):
    """One or more ``<pred_dir>/<camera>.txt`` files do not exist."""


@dataclass(frozen=True)
class SequenceScores:
    """Scores of one evaluated sequence (a camera, or all cameras as one sequence for the MTMC row)."""

    name: str
    hota: float
    deta: float
    assa: float
    loca: float
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    idsw: int
    tp: int
    fp: int
    fn: int
    num_gt_dets: int
    num_pred_dets: int
    num_gt_ids: int
    num_pred_ids: int
    num_frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationResult:
    """Per-camera rows (sorted by camera name) and the cross-camera row (None for a single camera)."""

    cameras: dict[str, SequenceScores]
    cross_camera: SequenceScores | None = None
    camera_order: list[str] = field(default_factory=list)

    def rows(self) -> list[SequenceScores]:
        """Camera rows in camera order, then the cross-camera row if there is one."""
        rows = [self.cameras[name] for name in self.camera_order]
        return rows + ([self.cross_camera] if self.cross_camera is not None else [])

    @property
    def mtmc_hota(self) -> float | None:
        return None if self.cross_camera is None else self.cross_camera.hota

    @property
    def mtmc_idf1(self) -> float | None:
        return None if self.cross_camera is None else self.cross_camera.idf1

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_order": list(self.camera_order),
            "cameras": {name: self.cameras[name].to_dict() for name in self.camera_order},
            "cross_camera": None if self.cross_camera is None else self.cross_camera.to_dict(),
            "mtmc_hota": self.mtmc_hota,
            "mtmc_idf1": self.mtmc_idf1,
        }


@dataclass(frozen=True)
class _Timestep:
    """One frame: raw (file) ids, boxes and the gt x pred IoU matrix."""

    gt_ids: np.ndarray  # (G,) int64
    pred_ids: np.ndarray  # (P,) int64
    gt_tlwh: np.ndarray  # (G, 4)
    pred_tlwh: np.ndarray  # (P, 4)
    pred_conf: np.ndarray  # (P,)
    similarity: np.ndarray  # (G, P) IoU


def iou_matrix_tlwh(a_tlwh: np.ndarray, b_tlwh: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b``, exactly as TrackEval computes it.

    Args:
        a_tlwh: (A, 4) left, top, width, height.
        b_tlwh: (B, 4) same format.
    Returns:
        (A, B) float64 IoU; 0 where either box has no area.
    """
    a = np.asarray(a_tlwh, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_tlwh, dtype=np.float64).reshape(-1, 4)
    a_xyxy = np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)
    b_xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    lo = np.maximum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    hi = np.minimum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    inter = np.prod(np.maximum(hi - lo, 0.0), axis=2)
    area_a = a[:, 2] * a[:, 3]
    area_b = b[:, 2] * b[:, 3]
    union = area_a[:, None] + area_b[None, :] - inter
    inter[area_a <= _EPS, :] = 0.0
    inter[:, area_b <= _EPS] = 0.0
    inter[union <= _EPS] = 0.0
    union[union <= _EPS] = 1.0
    return inter / union


def _split_by_frame(rows: np.ndarray, num_frames: int) -> list[np.ndarray]:
    """(N, 10) rows -> num_frames arrays of rows, index t holding frame t + 1."""
    frames = rows[:, COL_FRAME].astype(np.int64)
    order = np.argsort(frames, kind="stable")
    rows, frames = rows[order], frames[order]
    bounds = np.searchsorted(frames, np.arange(1, num_frames + 2))
    return [rows[bounds[t]:bounds[t + 1]] for t in range(num_frames)]


def _check_unique_ids(per_frame: list[np.ndarray], what: str) -> None:
    for t, rows in enumerate(per_frame):
        ids = rows[:, COL_ID]
        if len(np.unique(ids)) != len(ids):
            uniq, counts = np.unique(ids, return_counts=True)
            dup = ", ".join(str(int(i)) for i in uniq[counts > 1])
            raise EvaluationError(f"{what}: id(s) {dup} appear more than once in frame {t + 1}; "
                                  "each id may have one box per frame")


def _as_mot_rows(rows: Any, what: str) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, MOT_NUM_COLUMNS), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < GT_CONSIDER_COL + 1:
        raise EvaluationError(f"{what}: expected (N, {GT_CONSIDER_COL + 1}..{MOT_NUM_COLUMNS}) MOT rows "
                              f"(as returned by tracker.offline.motio.read_mot), got shape {arr.shape}")
    if arr.shape[1] < MOT_NUM_COLUMNS:  # absent trailing columns read as -1, as read_mot fills them
        arr = np.concatenate([arr, np.full((len(arr), MOT_NUM_COLUMNS - arr.shape[1]), -1.0)], axis=1)
    return arr


def _timesteps(gt_rows: Any, pred_rows: Any, num_frames: int | None, name: str,
               gt_format: str = "auto") -> list[_Timestep]:
    gt = _as_mot_rows(gt_rows, f"{name} ground truth")
    dialect = resolve_gt_format(gt_format, gt, f"{name} ground truth")
    pred = _as_mot_rows(pred_rows, f"{name} predictions")
    if num_frames is None:
        num_frames = int(max(gt[:, COL_FRAME].max(initial=0), pred[:, COL_FRAME].max(initial=0)))
    for rows, what in ((gt, "ground truth"), (pred, "predictions")):
        frames = rows[:, COL_FRAME]
        if len(frames) and (frames.min() < 1 or frames.max() > num_frames):
            raise EvaluationError(f"{name} {what}: frame numbers must lie in 1..{num_frames} (the sequence "
                                  f"length), found {int(frames.min())}..{int(frames.max())}")
    gt_frames = _split_by_frame(gt, num_frames)
    pred_frames = _split_by_frame(pred, num_frames)
    _check_unique_ids(gt_frames, f"{name} ground truth")
    _check_unique_ids(pred_frames, f"{name} predictions")
    gt_frames, pred_frames = preprocess_frames(gt_frames, pred_frames, dialect, name)
    steps = []
    box = slice(COL_LEFT, COL_LEFT + 4)
    for g, p in zip(gt_frames, pred_frames):
        steps.append(_Timestep(
            gt_ids=g[:, COL_ID].astype(np.int64), pred_ids=p[:, COL_ID].astype(np.int64),
            gt_tlwh=g[:, box], pred_tlwh=p[:, box], pred_conf=p[:, COL_CONF],
            similarity=iou_matrix_tlwh(g[:, box], p[:, box])))
    return steps


def _relabel(ids_per_step: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Raw ids per timestep -> contiguous 0-based ints over the whole sequence, and the number of ids."""
    all_ids = np.unique(np.concatenate(ids_per_step)) if ids_per_step else np.zeros(0, np.int64)
    return [np.searchsorted(all_ids, ids).astype(int) for ids in ids_per_step], len(all_ids)


def _data_from_steps(steps: list[_Timestep], name: str) -> dict[str, Any]:
    gt_ids, num_gt_ids = _relabel([s.gt_ids for s in steps])
    pred_ids, num_pred_ids = _relabel([s.pred_ids for s in steps])
    return {
        "seq": name,
        "num_timesteps": len(steps),
        "gt_ids": gt_ids,
        "tracker_ids": pred_ids,
        "gt_dets": [s.gt_tlwh for s in steps],
        "tracker_dets": [s.pred_tlwh for s in steps],
        "tracker_confidences": [s.pred_conf for s in steps],
        "similarity_scores": [s.similarity for s in steps],
        "num_gt_ids": num_gt_ids,
        "num_tracker_ids": num_pred_ids,
        "num_gt_dets": int(sum(len(s.gt_ids) for s in steps)),
        "num_tracker_dets": int(sum(len(s.pred_ids) for s in steps)),
    }


def build_sequence_data(gt_rows: Any, pred_rows: Any, num_frames: int | None = None,
                        name: str = "sequence", gt_format: str = "auto") -> dict[str, Any]:
    """TrackEval's per-sequence ``data`` dict (the input of ``metric.eval_sequence``).

    Args:
        gt_rows: (N, 7..10) MOT rows (``read_mot``); which count depends on ``gt_format``.
        pred_rows: (M, 7..10) MOT rows; all kept, except (``mot16``) those matched to a distractor.
        num_frames: sequence length; frames must lie in 1..num_frames. None: the largest frame present.
        name: sequence name used in error messages.
        gt_format: ``auto``, ``mot15`` or ``mot16`` (module docstring).
    Raises:
        EvaluationError: a frame out of range, or an id twice in one frame.
        tracker.offline.motio.MotFormatError: ``mot16`` asked for rows that are not MOT16 ground truth.
    """
    return _data_from_steps(_timesteps(gt_rows, pred_rows, num_frames, name, gt_format), name)


def evaluate_data(data: Mapping[str, Any], name: str) -> SequenceScores:
    """Run TrackEval's HOTA, CLEAR and Identity on one ``data`` dict (see :func:`build_sequence_data`)."""
    from trackeval.metrics import CLEAR, HOTA, Identity  # noqa: PLC0415  (0.5 s import; only when evaluating)

    quiet = {"THRESHOLD": MATCH_IOU_THRESHOLD, "PRINT_CONFIG": False}
    hota = HOTA().eval_sequence(data)
    clear = CLEAR(dict(quiet)).eval_sequence(data)
    ident = Identity(dict(quiet)).eval_sequence(data)
    return SequenceScores(
        name=name,
        hota=float(np.mean(hota["HOTA"])), deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])), loca=float(np.mean(hota["LocA"])),
        mota=float(clear["MOTA"]), motp=float(clear["MOTP"]),
        idf1=float(ident["IDF1"]), idp=float(ident["IDP"]), idr=float(ident["IDR"]),
        idsw=int(clear["IDSW"]), tp=int(clear["CLR_TP"]), fp=int(clear["CLR_FP"]), fn=int(clear["CLR_FN"]),
        num_gt_dets=int(data["num_gt_dets"]), num_pred_dets=int(data["num_tracker_dets"]),
        num_gt_ids=int(data["num_gt_ids"]), num_pred_ids=int(data["num_tracker_ids"]),
        num_frames=int(data["num_timesteps"]),
    )


def evaluate_sequence(gt_rows: Any, pred_rows: Any, num_frames: int | None = None,
                      name: str = "sequence", gt_format: str = "auto") -> SequenceScores:
    """Scores of one sequence. Arguments as in :func:`build_sequence_data`."""
    return evaluate_data(build_sequence_data(gt_rows, pred_rows, num_frames, name, gt_format), name)


def evaluate_cameras(gt_by_camera: Mapping[str, Any], pred_by_camera: Mapping[str, Any],
                     num_frames_by_camera: Mapping[str, int | None] | None = None,
                     gt_format: str = "auto") -> EvaluationResult:
    """Per-camera scores plus, for >= 2 cameras, the cross-camera (MTMC) row.

    Args:
        gt_by_camera: camera -> (N, 7..10) gt rows with GLOBAL ids.
        pred_by_camera: camera -> (M, 7..10) predicted rows; must have the same cameras as gt (may be empty).
        num_frames_by_camera: camera -> frame count (None / missing: largest frame present).
        gt_format: ``auto`` (detected per camera), ``mot15`` or ``mot16`` (module docstring).
    Raises:
        EvaluationError: no cameras, camera sets differ, or bad rows (see :func:`build_sequence_data`).
    """
    cameras = sorted(gt_by_camera)
    if not cameras:
        raise EvaluationError("no cameras to evaluate: give ground truth for at least one camera")
    missing = [c for c in cameras if c not in pred_by_camera]
    extra = sorted(c for c in pred_by_camera if c not in gt_by_camera)
    if missing or extra:
        raise EvaluationError(f"predictions and ground truth name different cameras: no predictions for "
                              f"{missing or 'none'}, no ground truth for {extra or 'none'}")
    frames = dict(num_frames_by_camera or {})
    steps = {c: _timesteps(gt_by_camera[c], pred_by_camera[c], frames.get(c), c, gt_format) for c in cameras}
    per_camera = {c: evaluate_data(_data_from_steps(steps[c], c), c) for c in cameras}
    cross = None
    if len(cameras) >= 2:
        all_steps = [s for c in cameras for s in steps[c]]
        cross = evaluate_data(_data_from_steps(all_steps, CROSS_CAMERA_NAME), CROSS_CAMERA_NAME)
    for row in per_camera.values():
        logger.debug("%s: HOTA %.3f MOTA %.3f IDF1 %.3f", row.name, row.hota, row.mota, row.idf1)
    return EvaluationResult(cameras=per_camera, cross_camera=cross, camera_order=cameras)


def _gt_path(camera_dir: Path, gt_file: str) -> Path | None:
    """A camera's gt file: ``<camera>/<gt_file>``, or MOTChallenge's ``<camera>/gt/<gt_file>``; None if neither."""
    for path in (camera_dir / gt_file, camera_dir / MOT_GT_DIR / gt_file):
        if path.is_file():
            return path
    return None


def _is_sequence_dir(folder: Path, gt_file: str) -> bool:
    """A MOTChallenge sequence folder itself: ``seqinfo.ini`` and ``gt/<gt_file>``."""
    return (folder / SEQINFO_FILE).is_file() and (folder / MOT_GT_DIR / gt_file).is_file()


def list_gt_cameras(gt_dir: str | os.PathLike[str], gt_file: str = GT_FILE) -> list[str]:
    """Sorted names of the sub-folders of ``gt_dir`` that hold a ``gt_file`` (default ``gt.txt``), directly or in
    ``gt/``; ``[name]`` when ``gt_dir`` is itself a MOTChallenge sequence folder."""
    root = Path(gt_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"ground-truth folder {root} does not exist (expected <gt-dir>/<camera>/{gt_file} "
                                f"or <gt-dir>/<seq>/{MOT_GT_DIR}/{gt_file})")
    if _is_sequence_dir(root, gt_file):
        return [root.resolve().name]
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _gt_path(p, gt_file) is not None)


def _sequence_length(camera_dir: Path, gt_path: Path) -> int | None:
    """``seqLength`` from ``<camera>/seqinfo.ini``; required in the MOTChallenge layout (gt in ``gt/``)."""
    seqinfo_path = camera_dir / SEQINFO_FILE
    mot_layout = gt_path.parent.name == MOT_GT_DIR
    if not seqinfo_path.is_file():
        if mot_layout:
            raise FileNotFoundError(f"{seqinfo_path} is missing: a MOTChallenge sequence ({gt_path}) needs its "
                                    f"seqinfo.ini with [Sequence] seqLength (the frame count)")
        return None
    seq_length = read_seqinfo(seqinfo_path).get("seqLength")
    if seq_length is None:
        if mot_layout:
            raise MotFormatError(f"{seqinfo_path}: no seqLength in [Sequence]; add seqLength=<number of frames>")
        return None
    if not isinstance(seq_length, int) or seq_length < 1:
        raise MotFormatError(f"{seqinfo_path}: seqLength = {seq_length!r} must be a positive whole number of frames")
    return seq_length


def evaluate_dirs(gt_dir: str | os.PathLike[str], pred_dir: str | os.PathLike[str],
                  cameras: Sequence[str] | None = None, gt_file: str = GT_FILE,
                  gt_format: str = "auto") -> EvaluationResult:
    """Read every camera's ground truth and ``<pred_dir>/<camera>.txt`` and evaluate.

    Args:
        gt_dir: ground-truth folder: ``<camera>/gt.txt`` per camera (e.g. ``pets-s2l1-dev/two-cam``),
            MOTChallenge sequences ``<seq>/gt/gt.txt`` + ``<seq>/seqinfo.ini`` (e.g. ``mot-dev``), or one
            MOTChallenge sequence folder.
        pred_dir: folder of prediction files, one ``<camera>.txt`` per camera (an empty file scores 0).
        cameras: cameras to evaluate (None: every camera folder with a gt.txt). Always reported sorted.
        gt_file: name of the ground-truth file in each camera folder (e.g. ``gt_annotation.txt``, the PETS
            annotation's own ids, where a returning person gets a new id).
        gt_format: ``auto``, ``mot15`` or ``mot16`` (module docstring).
    Raises:
        FileNotFoundError: gt folder / a requested camera's gt.txt / a MOTChallenge seqinfo.ini missing, or no
            cameras found.
        MissingPredictionError: prediction files missing; the message lists them all.
        tracker.offline.motio.MotFormatError: a malformed line (file and line named), a bad seqinfo.ini, or
            ``mot16`` asked for a file that is not MOT16 ground truth.
        EvaluationError: see :func:`evaluate_cameras`.
    """
    gt_root, pred_root = Path(gt_dir), Path(pred_dir)
    available = list_gt_cameras(gt_root, gt_file)
    single_sequence = _is_sequence_dir(gt_root, gt_file)
    if cameras is None:
        selected = available
        if not selected:
            raise FileNotFoundError(f"no camera folders with a {gt_file} under {gt_root} "
                                    f"(expected <gt-dir>/<camera>/{gt_file} or <gt-dir>/<seq>/{MOT_GT_DIR}/{gt_file} "
                                    f"with <gt-dir>/<seq>/{SEQINFO_FILE})")
    else:
        selected = sorted(set(cameras))
        unknown = [c for c in selected if c not in available]
        if unknown:
            raise FileNotFoundError(f"no ground truth for camera(s) {', '.join(unknown)} under {gt_root}; "
                                    f"cameras there: {', '.join(available) or 'none'}")
    if not pred_root.is_dir():
        raise MissingPredictionError(f"prediction folder {pred_root} does not exist; expected one file per camera: "
                                     + ", ".join(f"{c}{PRED_SUFFIX}" for c in selected))
    missing = [c for c in selected if not (pred_root / f"{c}{PRED_SUFFIX}").is_file()]
    if missing:
        raise MissingPredictionError(
            f"missing prediction file(s) for camera(s) {', '.join(missing)}: expected "
            + ", ".join(str(pred_root / f"{c}{PRED_SUFFIX}") for c in missing)
            + " (MOTChallenge rows frame,id,left,top,width,height,conf,-1,-1,-1; an empty file is allowed)")
    gt, pred, frames = {}, {}, {}
    for cam in selected:
        camera_dir = gt_root if single_sequence else gt_root / cam
        gt_path = _gt_path(camera_dir, gt_file)
        if gt_path is None:
            raise FileNotFoundError(f"{camera_dir}: no {gt_file} (nor {MOT_GT_DIR}/{gt_file})")
        frames[cam] = _sequence_length(camera_dir, gt_path)
        gt[cam] = read_mot(gt_path)
        pred[cam] = read_mot(pred_root / f"{cam}{PRED_SUFFIX}")
    return evaluate_cameras(gt, pred, frames, gt_format)
