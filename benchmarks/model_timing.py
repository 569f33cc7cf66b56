"""Median latency of the model edge on this machine: detector (and Ultralytics' overhead), Re-ID backends, CLAHE.

Rows are measured interleaved (round-robin, --reps rounds) so background load hits them alike. Detector rows:

* ``detect()``             UltralyticsDetector.detect: cv2 letterbox -> backend -> NMS -> boxes (what the worker
                           calls);
* ``YOLO.predict()``       the plain Ultralytics call with the same arguments (predictor reused);
* ``backend forward``      Ultralytics' AutoBackend on a prepared input (no letterbox, no NMS);
* ``raw OpenVINO infer``   the compiled OpenVINO model called directly (the model's own inference);

so overhead of predict() = predict - raw infer, and of detect() = detect - raw infer.

    .venv/bin/python benchmarks/model_timing.py [--reps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tracker.config import ClaheConfig, DetectorConfig, ReidConfig  # noqa: E402
from tracker.models.clahe import Clahe, mean_luma  # noqa: E402
from tracker.models.detector import UltralyticsDetector  # noqa: E402
from tracker.models.reid import build_reid_embedder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CROP_COUNTS = (1, 8, 16)
BACKENDS = ("torch", "onnxruntime", "openvino")
FRAME_INDEX = 100


def read_frame(video: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    image = None
    for _ in range(index):
        ok, image = cap.read()
        if not ok:
            raise SystemExit(f"{video} has fewer than {index} frames")
    cap.release()
    assert image is not None
    return image


def person_boxes(image: np.ndarray, gt_path: Path, index: int, count: int) -> np.ndarray:
    """``count`` real gt boxes of the frame, repeated (with a small shift) when the frame has fewer people."""
    gt = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    rows = gt[gt[:, 0] == index]
    base = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]].astype(np.float32)
    reps = [base + np.float32(k) for k in range(-(-count // len(base)))]
    return np.concatenate(reps)[:count]


def measure(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 3) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="Re-ID inference threads")
    parser.add_argument("--cache-dir", default=None, help="Re-ID export cache (default: a temporary folder)")
    args = parser.parse_args()

    cam = args.shared / "data" / "pets-s2l1-dev" / "full" / "cam1"
    image = read_frame(cam / "video.mp4", FRAME_INDEX)
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="mctrack-timing-")
    print(f"frame {FRAME_INDEX} of full/cam1 ({image.shape[1]}x{image.shape[0]}), median of {args.reps} "
          f"interleaved runs; CPU threads available: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}\n")

    detector = UltralyticsDetector(DetectorConfig(weights=str(args.shared / "models" / "yolo11n_int8_openvino_model")))
    blob = detector.backend_input(image)
    backend = detector._predictor.model
    det_fns: dict[str, Callable[[], object]] = {
        "detect()": lambda: detector.detect(image),
        "YOLO.predict()": lambda: detector.predict_reference(image),
        "backend forward": lambda: detector.backend_forward(blob),
    }
    detector.backend_forward(blob)  # the backend now holds the compiled model for the blob's size
    compiled = getattr(getattr(backend, "backend", None), "ov_compiled_model", None)
    if compiled is not None:
        raw = blob.numpy()
        det_fns["raw OpenVINO infer"] = lambda: compiled(raw)
    det = measure(det_fns, args.reps)
    print(f"detector: {detector.info}")
    print("| detector step | median ms |")
    print("|---|---|")
    for name, ms in det.items():
        print(f"| {name} | {ms:.1f} |")
    if "raw OpenVINO infer" in det:
        raw_ms = det["raw OpenVINO infer"]
        print(f"| overhead of YOLO.predict() over raw infer | {det['YOLO.predict()'] - raw_ms:.1f} |")
        print(f"| overhead of detect() over raw infer | {det['detect()'] - raw_ms:.1f} |")

    clahe = Clahe(ClaheConfig())
    pre = measure({"Clahe.apply (768x576)": lambda: clahe.apply(image),
                   "mean_luma (768x576)": lambda: mean_luma(image)}, args.reps)
    print("\n| CLAHE step | median ms |")
    print("|---|---|")
    for name, ms in pre.items():
        print(f"| {name} | {ms:.2f} |")

    embedders = {b: build_reid_embedder(ReidConfig(
        weights=str(args.shared / "models" / "osnet_x0_25_msmt17.pt"), backend=b, cache_dir=cache_dir,
        num_threads=args.threads, min_crop_height_px=0.0)) for b in BACKENDS}
    reid_fns: dict[str, Callable[[], object]] = {}
    for n in CROP_COUNTS:
        boxes = person_boxes(image, cam / "gt.txt", FRAME_INDEX, n)
        for b, emb in embedders.items():
            reid_fns[f"{b}|{n}"] = lambda emb=emb, boxes=boxes: emb.embed(image, boxes)
    reid = measure(reid_fns, args.reps)
    print(f"\nRe-ID osnet_x0_25 256x128, {args.threads} threads, embed() incl. crop + preprocessing (median ms)")
    print("| backend | " + " | ".join(f"{n} crop{'s' * (n > 1)}" for n in CROP_COUNTS) + " |")
    print("|---|" + "---|" * len(CROP_COUNTS))
    for b in BACKENDS:
        print(f"| {b} | " + " | ".join(f"{reid[f'{b}|{n}']:.1f}" for n in CROP_COUNTS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
