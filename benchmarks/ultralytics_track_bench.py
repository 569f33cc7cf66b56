"""Same video, same detector weights, one run: Ultralytics `model.track` (BoT-SORT + Re-ID, `with_reid: True`)
vs the mctrack pipeline (Re-ID on). Prints fps of both and their ratio.

    .venv/bin/python benchmarks/ultralytics_track_bench.py --video ../shared/data/pets-s2l1-dev/full/cam1/video.mp4 \
        --weights ../shared/models/yolo11n_int8_openvino_model --reid ../shared/models/osnet_x0_25_msmt17.pt
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")


def ultralytics_track_fps(weights: str, video: str, frames: int, tracker_yaml: Path) -> float:
    import cv2
    from ultralytics import YOLO

    model = YOLO(weights, task="detect")
    cap = cv2.VideoCapture(video)
    images = []
    while len(images) < frames:
        ok, img = cap.read()
        if not ok:
            break
        images.append(img)
    model.track(images[0], persist=True, tracker=str(tracker_yaml), classes=[0], verbose=False)  # warm-up
    model.predictor.trackers[0].reset()
    t0 = time.perf_counter()
    for img in images:
        model.track(img, persist=True, tracker=str(tracker_yaml), classes=[0], verbose=False)
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--weights", required=True, help="detector weights (same for both)")
    ap.add_argument("--reid", required=True, help="torchreid weights (.pt) for BoT-SORT's Re-ID, as ONNX (Ultralytics "
                    "runs ONNX Re-ID models, not OpenVINO IRs)")
    ap.add_argument("--config", default=None, help="mctrack config (its reid.weights, e.g. the default Open Model "
                    "Zoo model, is mctrack's Re-ID; without it mctrack uses --reid too)")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="mctrack config override, e.g. --set detector.input_shape=export (repeatable)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import ultralytics
    import yaml

    from tracker.config import load_config
    from tracker.models.reid import export_onnx

    mcfg = load_config(args.config, [f"detector.weights={args.weights}", *args.set]) if args.config else \
        load_config(None, [f"detector.weights={args.weights}", f"reid.weights={args.reid}", *args.set])
    osnet = load_config(None, [f"reid.weights={args.reid}", "reid.backend=onnxruntime"]).reid
    src = Path(ultralytics.__file__).parent / "cfg" / "trackers" / "botsort.yaml"
    cfg = yaml.safe_load(src.read_text())
    # BoT-SORT with appearance. "auto" (the detector's own features) needs a PyTorch detector and otherwise
    # downloads a classifier, so give it the same OSNet weights mctrack uses, as ONNX (Ultralytics runs it with
    # onnxruntime through AutoBackend): like for like.
    cfg["with_reid"] = True
    cfg["model"] = str(export_onnx(osnet))
    tmp = Path(tempfile.mkdtemp()) / "botsort_reid.yaml"
    tmp.write_text(yaml.safe_dump(cfg))
    ul_fps = ultralytics_track_fps(args.weights, args.video, args.frames, tmp)

    from tracker.bench.single import run_single_camera_bench

    res = run_single_camera_bench(mcfg, args.video, args.frames, publish=True)
    out = {"ultralytics_botsort_reid_fps": ul_fps, "mctrack_pipeline_fps": res.pipeline_fps,
           "mctrack_detector_only_fps": res.detector_only_fps, "speedup_vs_ultralytics": res.pipeline_fps / ul_fps,
           "pipeline_vs_detector_only": res.ratio, "frames": res.frames, "botsort_config": cfg,
           "mctrack_reid_weights": mcfg.reid.weights}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"Ultralytics track (BoT-SORT + Re-ID): {ul_fps:6.1f} fps")
    print(f"mctrack detector only             : {res.detector_only_fps:6.1f} fps")
    print(f"mctrack full pipeline (Re-ID on)  : {res.pipeline_fps:6.1f} fps  "
          f"= {res.pipeline_fps / ul_fps:.2f} x Ultralytics, {res.ratio:.2f} x detector-only")


if __name__ == "__main__":
    main()
