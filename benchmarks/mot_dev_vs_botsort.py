"""mctrack vs Ultralytics BoT-SORT + Re-ID on real single-camera MOTChallenge sequences (``mot-dev``).

Same detector (weights, person class, detection threshold 0.1), same sequences, same scoring (``mctrack eval``'s
code: TrackEval HOTA / CLEAR / Identity with MOTChallenge preprocessing). mctrack runs ``mctrack replay --no-hub``
(per-camera ids); Ultralytics runs ``model.track`` with its stock ``botsort.yaml`` plus ``with_reid: True`` and the
OSNet-x0.25 weights as ONNX (``--botsort-reid``). fps: frames / wall time of the tracking loop, image decoding
included for both.

A third row per sequence, "BoT-SORT + Re-ID on mctrack's detections", feeds Ultralytics' BOTSORT tracker (stock
settings, the same Re-ID) the boxes of mctrack's own detector wrapper, so both trackers see the same detections at
the same input size (mctrack fits the detector input to the frame, ``detector.input_shape: auto`` and
``detector.wide_min_short_side``; Ultralytics runs a fixed export at its square 640x640 letterbox): the tracker
against the tracker, with the input size taken out.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/mot_dev_vs_botsort.py --config config/pets-dev.yaml \\
        [--data ../shared/data/mot-dev] [--out runs/mot-dev] [--set tracker.max_age_s=2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

from tracker.config import Config, load_config  # noqa: E402  (after the Ultralytics environment)
from tracker.offline.evaluation import SequenceScores, evaluate_dirs  # noqa: E402
from tracker.offline.motio import read_seqinfo, write_mot  # noqa: E402

DETECTION_THRESHOLD = 0.1  # mctrack detector.conf_threshold default; Ultralytics' own default for track()


@dataclass(frozen=True)
class Run:
    tracker: str
    sequence: str
    scores: SequenceScores
    fps: float


def sequences(data: Path) -> list[Path]:
    """MOTChallenge sequence folders (seqinfo.ini + gt/gt.txt) under ``data``, sorted by name."""
    return sorted(p for p in data.iterdir() if (p / "seqinfo.ini").is_file() and (p / "gt" / "gt.txt").is_file())


def botsort_yaml(cfg: Config, reid_weights: str) -> Path:
    """Ultralytics' stock BoT-SORT config with Re-ID on, given torchreid ``reid_weights`` (OSNet) as ONNX: Ultralytics
    runs ONNX Re-ID models, not the OpenVINO IRs mctrack uses by default."""
    import dataclasses

    import ultralytics
    import yaml

    from tracker.models.reid import export_onnx

    stock = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "trackers" / "botsort.yaml").read_text())
    stock["with_reid"] = True
    stock["model"] = str(export_onnx(dataclasses.replace(cfg.reid, weights=reid_weights)))
    path = Path(tempfile.mkdtemp()) / "botsort_reid.yaml"
    path.write_text(yaml.safe_dump(stock))
    return path


def run_ultralytics(cfg: Config, seq: Path, tracker_yaml: Path, out_file: Path) -> float:
    """Track ``seq`` with Ultralytics BoT-SORT + Re-ID; write MOTChallenge rows; return fps."""
    import cv2
    from ultralytics import YOLO

    info = read_seqinfo(seq)
    images = sorted((seq / str(info.get("imDir", "img1"))).glob(f"*{info.get('imExt', '.jpg')}"))
    model = YOLO(cfg.detector.weights, task="detect")
    kwargs = {"persist": True, "tracker": str(tracker_yaml), "classes": [cfg.detector.person_class_id],
              "conf": DETECTION_THRESHOLD, "verbose": False}
    model.track(cv2.imread(str(images[0])), **kwargs)  # warm-up, then a fresh tracker
    model.predictor.trackers[0].reset()
    rows: list[list[float]] = []
    t0 = time.perf_counter()
    for frame, path in enumerate(images, start=1):
        boxes = model.track(cv2.imread(str(path)), **kwargs)[0].boxes
        if boxes.id is None:
            continue
        for (x1, y1, x2, y2), track_id, conf in zip(boxes.xyxy.tolist(), boxes.id.tolist(), boxes.conf.tolist()):
            rows.append([frame, int(track_id), x1, y1, x2 - x1, y2 - y1, conf, -1, -1, -1])
    fps = len(images) / (time.perf_counter() - t0)
    write_mot(out_file, rows)
    return fps


def run_botsort_on_detections(cfg: Config, seq: Path, tracker_yaml: Path, out_file: Path) -> float:
    """Ultralytics' BOTSORT (stock settings from ``tracker_yaml``) on mctrack's detector output; write MOTChallenge
    rows; return fps."""
    import cv2
    import numpy as np
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.utils import YAML, IterableSimpleNamespace

    from tracker.models.detector import UltralyticsDetector

    info = read_seqinfo(seq)
    images = sorted((seq / str(info.get("imDir", "img1"))).glob(f"*{info.get('imExt', '.jpg')}"))
    detector = UltralyticsDetector(cfg.detector)
    tracker = BOTSORT(args=IterableSimpleNamespace(**YAML.load(str(tracker_yaml))))  # frame_rate as in track()
    rows: list[list[float]] = []
    t0 = time.perf_counter()
    for frame, path in enumerate(images, start=1):
        image = cv2.imread(str(path))
        dets = detector.detect(image)
        data = np.c_[dets.xyxy, dets.confidence, np.zeros(len(dets))].astype(np.float32)
        tracks = tracker.update(Boxes(data, image.shape[:2]), image)
        for x1, y1, x2, y2, track_id, conf, *_ in tracks.tolist():
            rows.append([frame, int(track_id), x1, y1, x2 - x1, y2 - y1, conf, -1, -1, -1])
    fps = len(images) / (time.perf_counter() - t0)
    write_mot(out_file, rows)
    return fps


def run_mctrack(cfg: Config, seq: Path, out_dir: Path) -> float:
    """``mctrack replay --no-hub --camera NAME=seq``; return fps (frames / replay wall time)."""
    from tracker.offline.replay import CameraSpec, run_replay

    summary = run_replay(cfg, [CameraSpec(seq.name, str(seq))], out_dir, use_hub=False, progress=False)
    return sum(summary.frames.values()) / summary.wall_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/pets-dev.yaml", help="mctrack config (detector and Re-ID weights)")
    ap.add_argument("--data", default="../shared/data/mot-dev", help="folder of MOTChallenge sequences")
    ap.add_argument("--out", default=None, help="prediction folders go here (default: a temporary folder)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="mctrack config override")
    ap.add_argument("--skip-ultralytics", action="store_true", help="only run mctrack")
    ap.add_argument("--botsort-reid", default="../shared/models/osnet_x0_25_msmt17.pt",
                    help="torchreid weights BoT-SORT's Re-ID runs (as ONNX)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cfg = load_config(args.config, args.set)
    out = Path(args.out or tempfile.mkdtemp(prefix="mot-dev-"))
    data = Path(args.data)
    runs: list[Run] = []
    tracker_yaml = None if args.skip_ultralytics else botsort_yaml(cfg, args.botsort_reid)
    for seq in sequences(data):
        fps = run_mctrack(cfg, seq, out / "mctrack")
        runs.append(Run("mctrack", seq.name, evaluate_dirs(data, out / "mctrack", [seq.name]).cameras[seq.name], fps))
        if tracker_yaml is not None:
            fps = run_ultralytics(cfg, seq, tracker_yaml, out / "botsort" / f"{seq.name}.txt")
            scores = evaluate_dirs(data, out / "botsort", [seq.name]).cameras[seq.name]
            runs.append(Run("Ultralytics BoT-SORT + Re-ID", seq.name, scores, fps))
            fps = run_botsort_on_detections(cfg, seq, tracker_yaml, out / "botsort_same_dets" / f"{seq.name}.txt")
            scores = evaluate_dirs(data, out / "botsort_same_dets", [seq.name]).cameras[seq.name]
            runs.append(Run("BoT-SORT + Re-ID on mctrack's detections", seq.name, scores, fps))
    if args.json:
        print(json.dumps([{"tracker": r.tracker, "sequence": r.sequence, "fps": r.fps, **r.scores.to_dict()}
                          for r in runs], indent=2))
        return
    print(f"predictions in {out}")
    print("| sequence | tracker | HOTA | IDF1 | MOTA | IDSW | fps |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        s = r.scores
        print(f"| {r.sequence} | {r.tracker} | {s.hota:.3f} | {s.idf1:.3f} | {s.mota:.3f} | {s.idsw} | {r.fps:.1f} |")


if __name__ == "__main__":
    main()
