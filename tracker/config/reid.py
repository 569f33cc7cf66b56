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
    backend: Literal["onnxruntime", "openvino", "torch"] = _f(
        "onnxruntime", "Inference engine for torchreid weights. onnxruntime/openvino use an ONNX export of the "
                       "torch weights that is made once and cached in cache_dir. OpenVINO IR models always run on "
                       "OpenVINO.")
    cache_dir: str = _f("~/.cache/mctrack", "Where exported Re-ID models are cached.")
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
    near_iou: float = _f(0.1, "Re-ID on demand: another detection or track overlapping a detection by more than "
                         "this IoU makes its match ambiguous (it is embedded).", lo=0.0, hi=1.0)
    min_crop_height_px: float = _f(24.0, "Boxes shorter than this get no embedding (too little appearance).",
                                   lo=0.0, hi=10000)
