"""CLAHE on the detector input: detector precision / recall with and without CLAHE, on normal and dark frames.

Runs the real detector over the dev clip (every --step-th frame) in three lighting conditions:

* ``full``      full/cam1 as recorded;
* ``full-dark`` full/cam1 darkened with gamma 2.5 (``out = 255 * (in/255) ** 2.5``);
* ``cam2``      two-cam/cam2 (the dataset's own darker, low-contrast, colour-shifted, noisy camera);

and for each, with CLAHE never / always on the detector input (clip 2.0, 8x8 tiles by default), prints precision
and recall at IoU 0.5 (Hungarian matching per frame) at confidence 0.1 / 0.25 / 0.5, plus the distribution of the
frames' mean Lab L (to choose ``clahe.dark_mean_luma``).

NMS only lets a box suppress lower-scored ones, so detecting once at the lowest confidence and thresholding after
gives exactly what detecting at each higher confidence would.

    .venv/bin/python benchmarks/clahe_study.py [--step 2] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from video_frames import every_nth_frame  # noqa: E402

from tracker.config import ClaheConfig, DetectorConfig  # noqa: E402
from tracker.models.clahe import Clahe, mean_luma  # noqa: E402
from tracker.models.detector import UltralyticsDetector  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DARK_GAMMA = 2.5
IOU_MATCH = 0.5
CONF_LEVELS = (0.1, 0.25, 0.5)
LUMA_PERCENTILES = (0, 5, 50, 95, 100)


def gamma_lut(gamma: float) -> np.ndarray:
    """(256,) uint8 lookup table for out = 255 * (in/255) ** gamma, rounded."""
    return np.round(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)


def read_gt(path: Path) -> dict[int, np.ndarray]:
    """MOT gt -> {frame: (N, 4) xyxy}."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    out: dict[int, np.ndarray] = {}
    for frame in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == frame]
        out[frame] = np.c_[r[:, 2:4], r[:, 2:4] + r[:, 4:6]].astype(np.float32)
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) xyxy -> (N, M) IoU."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def true_positives(gt: np.ndarray, pred: np.ndarray) -> int:
    if len(gt) == 0 or len(pred) == 0:
        return 0
    iou = iou_matrix(gt, pred)
    rows, cols = linear_sum_assignment(-iou)
    return int(np.sum(iou[rows, cols] >= IOU_MATCH))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--step", type=int, default=2, help="use every STEP-th frame")
    parser.add_argument("--weights", default=None, help="detector weights (default: shared yolo11n INT8 OpenVINO)")
    parser.add_argument("--clip-limit", type=float, default=2.0)
    parser.add_argument("--tiles", type=int, default=8)
    parser.add_argument("--gammas", type=float, nargs="+", default=[DARK_GAMMA],
                        help="darkening gammas applied to full/cam1 (default: %(default)s)")
    parser.add_argument("--no-cam2", action="store_true", help="skip two-cam/cam2")
    args = parser.parse_args()

    dev = args.shared / "data" / "pets-s2l1-dev"
    weights = args.weights or str(args.shared / "models" / "yolo11n_int8_openvino_model")
    detector = UltralyticsDetector(DetectorConfig(weights=weights, conf_threshold=min(CONF_LEVELS)))
    clahe = Clahe(ClaheConfig(clip_limit=args.clip_limit, tile_grid_size=args.tiles))
    conditions: dict[str, tuple[Path, np.ndarray | None]] = {"full": (dev / "full" / "cam1", None)}
    for gamma in args.gammas:
        conditions[f"full-dark(g{gamma:g})"] = (dev / "full" / "cam1", gamma_lut(gamma))
    if not args.no_cam2:
        conditions["cam2"] = (dev / "two-cam" / "cam2", None)
    print(f"detector: {detector.info}")
    print(f"CLAHE clip {args.clip_limit}, tiles {args.tiles}; every {args.step}th frame; IoU {IOU_MATCH}\n")

    results: list[tuple[str, str, float, float, float, int, int]] = []
    lumas: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for name, (cam, lut) in conditions.items():
        gt = read_gt(cam / "gt.txt")
        # counts[mode][conf] = [tp, n_pred]; n_gt shared
        counts = {mode: {c: [0, 0] for c in CONF_LEVELS} for mode in ("never", "always")}
        n_gt = 0
        frame_lumas = []
        for index, image in every_nth_frame(cam / "video.mp4", args.step):
            if lut is not None:
                image = cv2.LUT(image, lut)
            frame_lumas.append(mean_luma(image))
            gt_xyxy = gt.get(index, np.zeros((0, 4), np.float32))
            n_gt += len(gt_xyxy)
            for mode, det_input in (("never", image), ("always", clahe.apply(image))):
                dets = detector.detect(det_input)
                for conf in CONF_LEVELS:
                    keep = dets.xyxy[dets.confidence >= conf]
                    counts[mode][conf][0] += true_positives(gt_xyxy, keep)
                    counts[mode][conf][1] += len(keep)
        lumas[name] = np.array(frame_lumas)
        for mode in ("never", "always"):
            for conf in CONF_LEVELS:
                tp, n_pred = counts[mode][conf]
                precision = tp / n_pred if n_pred else float("nan")
                recall = tp / n_gt if n_gt else float("nan")
                results.append((name, mode, conf, precision, recall, tp, n_pred))
        print(f"  {name}: {len(frame_lumas)} frames, {n_gt} gt boxes ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr)

    print("| lighting | CLAHE on detector input | conf | precision | recall | F1 | TP | detections |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mode, conf, p, r, tp, n_pred in results:
        f1 = 2 * p * r / (p + r) if p + r > 0 else float("nan")
        print(f"| {name} | {mode} | {conf:.2f} | {p:.3f} | {r:.3f} | {f1:.3f} | {tp} | {n_pred} |")

    print("\nMean Lab L per frame (mean_luma, 0-255):")
    header = " | ".join(f"p{q}" for q in LUMA_PERCENTILES)
    print(f"| lighting | {header} |")
    print("|---|" + "---|" * len(LUMA_PERCENTILES))
    for name, values in lumas.items():
        cells = " | ".join(f"{np.percentile(values, q):.1f}" for q in LUMA_PERCENTILES)
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
