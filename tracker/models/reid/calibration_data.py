"""Real person crops for the Re-ID path choice: frames of a MOTChallenge sequence with their ground-truth boxes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tracker.config import ConfigError

__all__ = ["PersonFrame", "load_person_frames", "calibration_key"]

_VIDEO_NAMES = ("video.mp4", "video.avi")
_GT_NAMES = ("gt.txt", "gt/gt.txt")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class PersonFrame:
    """image: (H, W, 3) uint8 BGR; xyxy: (N, 4) float ground-truth person boxes in pixels (N >= 1)."""

    image: np.ndarray
    xyxy: np.ndarray


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _gt_boxes(gt_path: Path, min_height_px: float) -> dict[int, np.ndarray]:
    """1-based frame -> (N, 4) xyxy of the considered (column 7 != 0) boxes at least ``min_height_px`` tall."""
    rows = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    if rows.size == 0:
        return {}
    keep = (rows[:, 6] != 0) if rows.shape[1] > 6 else np.ones(len(rows), bool)
    keep &= rows[:, 5] >= min_height_px
    rows = rows[keep]
    xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
    return {int(f): xyxy[rows[:, 0] == f] for f in np.unique(rows[:, 0])}


def calibration_key(source: str, frames: int) -> str:
    """Short hash naming what ``load_person_frames(source, frames)`` reads (its gt file's content and the count), for
    cache file names."""
    folder = Path(source).expanduser()
    gt = _find(folder, _GT_NAMES)
    digest = hashlib.sha256(f"{folder.resolve()}|{frames}|".encode())
    if gt is not None:
        digest.update(gt.read_bytes())
    return digest.hexdigest()[:16]


def load_person_frames(source: str, frames: int, min_height_px: float = 24.0) -> list[PersonFrame]:
    """Up to ``frames`` frames of a MOTChallenge sequence folder, evenly spaced over those with ground truth.

    Args:
        source: a folder with ``video.mp4`` (or ``img1/`` images) and ``gt.txt`` (or ``gt/gt.txt``), MOTChallenge
            rows ``frame,id,left,top,width,height,conf,...`` with 1-based frames.
        frames: how many frames to take.
        min_height_px: boxes shorter than this are left out (they get no embedding in the pipeline either).
    Raises:
        ConfigError: the folder is missing or has no video/images or ground truth.
    """
    folder = Path(source).expanduser()
    gt = _find(folder, _GT_NAMES)
    video = _find(folder, _VIDEO_NAMES)
    images = sorted(p for p in (folder / "img1").glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES) \
        if (folder / "img1").is_dir() else []
    if gt is None or (video is None and not images):
        raise ConfigError(f"reid.calibration_source = {source!r}: expected a MOTChallenge sequence folder with "
                          f"video.mp4 (or img1/) and gt.txt (or gt/gt.txt); set it to one, or to '' for f32 only")
    boxes = _gt_boxes(gt, min_height_px)
    with_gt = sorted(boxes)
    if not with_gt:
        raise ConfigError(f"reid.calibration_source = {source!r}: {gt} has no person boxes")
    picks = sorted({with_gt[int(i)] for i in np.linspace(0, len(with_gt) - 1, min(frames, len(with_gt)))})
    out: list[PersonFrame] = []
    if images:
        for f in picks:
            if f - 1 < len(images):
                img = cv2.imread(str(images[f - 1]), cv2.IMREAD_COLOR)
                if img is not None:
                    out.append(PersonFrame(img, boxes[f]))
        return out
    cap = cv2.VideoCapture(str(video))
    try:
        wanted, frame = set(picks), 0
        while wanted:
            if not cap.grab():
                break
            frame += 1
            if frame in wanted:
                ok, img = cap.retrieve()
                if ok:
                    out.append(PersonFrame(img, boxes[frame]))
                wanted.discard(frame)
    finally:
        cap.release()
    return out
