"""The ``detector`` section: the person detector (tracker.models.detector)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.fields import _f

__all__ = ["DetectorConfig"]


@dataclass
class DetectorConfig:
    weights: str = _f("yolo11n.pt", "Ultralytics detector: a .pt, .onnx or OpenVINO model dir. A bare official "
                      "name (yolo11n.pt) is downloaded by Ultralytics when online; offline pass a local path.")
    imgsz: int = _f(640, "Inference size in pixels (the long side); fixed-size exports must use their own size.",
                    lo=32, hi=4096)
    input_shape: Literal["auto", "export"] = _f(
        "auto", "Network input shape. auto: letterbox each frame into the smallest rectangle of stride multiples "
                "that holds it at the model's long side, like Ultralytics does for dynamic models (a 768x576 "
                "camera runs at 640x480, 25% fewer pixels than 640x640; a 448x576 one at 512x640). Fixed-size "
                "OpenVINO YOLO exports are reshaped for it, once per frame size; other fixed-size models keep "
                "their size. export: a fixed-size model's own input (640x640 letterbox).")
    wide_min_short_side: float = _f(
        0.5, "input_shape auto, very wide or tall frames: the short side goes in at no less than this fraction of "
             "imgsz, instead of shrinking with the long side, as long as the input holds no more pixels than the "
             "square imgsz x imgsz one (a 1224x370 street view runs at 1059x320 instead of 640x194, where its "
             "distant walkers were too small to score; 4:3 and 16:9 cameras are not affected). 0 = the long side "
             "at imgsz always.", lo=0.0, hi=1.0)
    conf_threshold: float = _f(0.1, "Lowest detection score kept. Scores between this and "
                               "tracker.high_score_threshold only extend existing tracks (ByteTrack second pass).",
                               lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    nms_iou: float = _f(0.7, "IoU above which overlapping person boxes are suppressed (class-agnostic NMS).",
                        lo=0.0, hi=1.0, lo_open=True)
    min_box_height_px: float = _f(8.0, "Detections shorter than this many pixels are dropped.", lo=0.0, hi=10000)
    min_box_width_px: float = _f(4.0, "Detections narrower than this many pixels are dropped.", lo=0.0, hi=10000)
    max_detections: int = _f(300, "Upper bound on detections per frame after NMS.", lo=1, hi=10000)
    person_class_id: int = _f(0, "Class index of 'person' in the model's labels (0 for COCO models).", lo=0, hi=10000)
    device: str = _f("cpu", "Inference device passed to Ultralytics: cpu, cuda, cuda:0, mps, intel:gpu ...")
    num_threads: int = _f(0, "OpenVINO models: CPU threads per inference. 0 = automatic: one per core for a single "
                          "camera; when `mctrack run` or `mctrack bench --cameras N` starts N camera processes on "
                          "this machine, cores // N each (at least 1). Threads are never pinned to cores.",
                          lo=0, hi=256)
    streams: int = _f(0, "OpenVINO models on CPU: frames a camera process detects at once, each on its own inference "
                      "stream with num_threads // streams threads (frames still come out in order). 0 = automatic: "
                      "2 when the process has 2 or more threads, else 1. On 2 cores, two 1-thread streams detect "
                      "more frames per second than one 2-thread stream and lose far less when Re-ID shares the "
                      "cores (docs/benchmarks.md). A frame may wait for the next one's start while frames queue; a "
                      "live worker finishes it as soon as the camera has nothing new.", lo=0, hi=16)
    half: bool = _f(False, "FP16 inference (CUDA only).")
