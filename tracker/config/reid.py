"""The ``reid`` section: the Re-ID appearance model and when detections are embedded (tracker.models.reid)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.fields import _f

__all__ = ["ReidConfig"]


@dataclass
class ReidConfig:
    enabled: bool = _f(True, "Use appearance (Re-ID) features for association and cross-camera identity.")
    model_name: str = _f("osnet_x0_25", "torchreid architecture name (osnet_x0_25, osnet_x1_0, ...) of torchreid "
                         "weights; not used for OpenVINO IR models.")
    weights: str = _f("person-reidentification-retail-0287", "The Re-ID model: an OpenVINO IR (.xml, a folder "
                      "holding one, or an Open Model Zoo name: person-reidentification-retail-0287 / -0277, "
                      "Apache-2.0), or a torchreid state dict (.pt/.pth; a bare model-zoo file name such as "
                      "osnet_x0_25_msmt17.pt). Bare names are downloaded into cache_dir when online; offline pass "
                      "a local path. Appearance thresholds adapt to the model (docs/reid.md).")
    backend: Literal["auto", "onnxruntime", "openvino", "torch"] = _f(
        "auto", "Inference engine for torchreid weights (OpenVINO IR models always run on openvino). "
                "onnxruntime/openvino use an ONNX export of the torch weights that is made once and cached in "
                "cache_dir. auto: the fastest of onnxruntime and openvino on this machine whose "
                "embeddings stay within the accuracy bound of f32, measured once per machine and cached in "
                "cache_dir (`mctrack reid-select --reselect` measures again); the chosen path is logged and "
                "reported by `mctrack bench`.")
    precision: Literal["auto", "f32", "bf16", "int8"] = _f(
        "auto", "Re-ID arithmetic. bf16 (openvino only) pays off on CPUs with AVX512_BF16 or AMX; int8 "
                "(post-training quantisation on calibration_source's person crops) on CPUs with VNNI or AMX. auto: "
                "f32, plus bf16 where the CPU has hardware for it and calibration_source is set (its embeddings are "
                "checked against f32 on real crops first), plus int8 only with auto_int8.")
    auto_int8: bool = _f(False, "Let precision auto consider int8 (on CPUs with VNNI or AMX). Only with "
                         "calibration_source footage from the deployed cameras: int8 quantised on one dataset drifted "
                         "far more on another (docs/benchmarks.md) than the accuracy check on held-out crops of the "
                         "calibration source shows.")
    calibration_source: str = _f(
        "", "Person crops for the automatic choice: a MOTChallenge sequence folder (video.mp4 or img1/, and gt.txt "
            "or gt/gt.txt) whose ground-truth boxes are cropped. Used to quantise int8 and to check bf16/int8 "
            "embeddings against f32. Empty: only f32 paths are considered.")
    calibration_frames: int = _f(40, "Frames of calibration_source sampled (evenly) for crops.", lo=1, hi=10000)
    min_cosine_median: float = _f(0.99, "Accuracy bound of a reduced-precision path: median cosine to the f32 "
                                  "embedding of the same crop at least this.", lo=0.0, hi=1.0)
    min_cosine_p05: float = _f(0.97, "Accuracy bound of a reduced-precision path: 5th-percentile cosine to f32 at "
                               "least this.", lo=0.0, hi=1.0)
    min_speedup: float = _f(0.1, "The automatic choice leaves onnxruntime f32 (the reference) only for a path at "
                            "least this fraction faster per crop, so timing noise does not flip it.", lo=0.0, hi=0.9)
    select_budget_s: float = _f(5.0, "Seconds the automatic choice spends timing the candidate paths (after "
                                "building them).", lo=0.5, hi=600.0)
    cache_dir: str = _f("~/.cache/mctrack", "Where exported Re-ID models and the per-machine path choice are "
                        "cached.")
    input_height: int = _f(256, "Crop height fed to the network.", lo=32, hi=1024)
    input_width: int = _f(128, "Crop width fed to the network.", lo=16, hi=1024)
    batch_size: int = _f(16, "Maximum crops per inference call.", lo=1, hi=1024)
    num_threads: int = _f(1, "CPU threads for Re-ID inference (0 = library default: one per core). One thread embeds "
                          "the few crops of a frame about as fast as two, and with pipeline.overlap Re-ID runs beside "
                          "the detector, which already uses every core.", lo=0, hi=256)
    device: str = _f("cpu", "torch backend device (cpu, cuda).")
    refresh_s: float = _f(1.5, "Re-ID on demand: a detection whose match is unambiguous (one track, nobody near) "
                          "is embedded only if its track has had no feature for this long (converted to frames "
                          "with the camera's fps, rounded down: 10 frames at 7 fps, 37 at 25 fps). 0 = embed every "
                          "confident detection every frame. A lone track's embeddings reach the hub at this cadence "
                          "too (ambiguous detections are embedded every frame).", lo=0.0, hi=3600.0)
    easy_match_iou: float = _f(0.5, "Re-ID on demand: the IoU with its track that makes a lone detection's match "
                               "unambiguous.", lo=0.0, hi=1.0, lo_open=True)
    near_iou: float = _f(0.25, "Re-ID on demand: another detection or track overlapping a detection by more than "
                         "this IoU makes its match ambiguous (it is embedded). 0.25 lets people walking side by "
                         "side, whose boxes touch, continue on motion: 13% fewer crops than 0.1 on PETS full, 44% "
                         "on EPFL, accuracy unchanged on the dev sets (docs/benchmarks.md).", lo=0.0, hi=1.0)
    min_crop_height_px: float = _f(24.0, "Boxes shorter than this get no embedding (too little appearance).",
                                   lo=0.0, hi=10000)
