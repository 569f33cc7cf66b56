"""INT8 post-training quantisation of the Re-ID model on real person crops, cached in ``reid.cache_dir``.

- ONNX Runtime: static QDQ (``onnxruntime.quantization.quantize_static``), per-channel int8 weights, uint8
  activations, MinMax calibration; runs on ONNX Runtime's VNNI/AMX int8 kernels.
- OpenVINO: NNCF post-training quantisation (``nncf.quantize``, mixed preset) when ``nncf`` is installed.

Calibration inputs are model-input blobs (the embedder's own preprocessing of the crops), so any model whose runner
takes a blob can be quantised the same way. Files are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tracker.models.reid.export import INPUT_NAME

__all__ = ["int8_engines", "quantize_onnx_int8", "quantize_openvino_int8"]

logger = logging.getLogger(__name__)


def int8_engines() -> tuple[str, ...]:
    """Engines that can quantise here: onnxruntime always (its quantization tool ships with it), openvino with
    nncf installed."""
    engines = ["onnxruntime"]
    if importlib.util.find_spec("openvino") and importlib.util.find_spec("nncf"):
        engines.append("openvino")
    return tuple(engines)


class _DropRootInfo(logging.Filter):
    """onnxruntime.quantization logs one INFO line per rescaled weight on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the quantisers' chatter out of the log and their progress bars off stdout (``--json`` prints there)."""
    root, drop = logging.getLogger(), _DropRootInfo()
    root.addFilter(drop)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        root.removeFilter(drop)


def _tmp_beside(target: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=target.stem + ".", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


def quantize_onnx_int8(onnx_path: Path, blobs: Sequence[np.ndarray], target: Path) -> Path:
    """``target`` (made from ``onnx_path`` if not there yet): static QDQ int8, calibrated on ``blobs``
    ((B, 3, H, W) float32 model inputs)."""
    if target.is_file():
        return target
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{INPUT_NAME: b} for b in blobs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    started = time.perf_counter()
    pre = _tmp_beside(target, ".pre.onnx")
    tmp = _tmp_beside(target, ".part.onnx")
    try:
        with _quiet():
            quant_pre_process(str(onnx_path), str(pre))
            quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        os.replace(tmp, target)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    logger.info("reid: quantised %s to int8 (static QDQ, %d calibration batches) in %.1f s: %s", onnx_path.name,
                len(blobs), time.perf_counter() - started, target)
    return target


def quantize_openvino_int8(ir_path: Path, blobs: Sequence[np.ndarray], target: Path) -> Path:
    """``target`` .xml (made from ``ir_path`` if not there yet): NNCF int8, calibrated on ``blobs``."""
    if target.is_file() and target.with_suffix(".bin").is_file():
        return target
    import nncf
    import openvino as ov

    started = time.perf_counter()
    core = ov.Core()
    with _quiet():
        model = nncf.quantize(core.read_model(str(ir_path)), nncf.Dataset(list(blobs)),
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(blobs))
    tmp_xml = _tmp_beside(target, ".part.xml")
    tmp_bin = tmp_xml.with_suffix(".bin")
    try:
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
        os.replace(tmp_bin, target.with_suffix(".bin"))
        os.replace(tmp_xml, target)
    finally:
        tmp_xml.unlink(missing_ok=True)
        tmp_bin.unlink(missing_ok=True)
    logger.info("reid: quantised %s to int8 (NNCF, %d calibration batches) in %.1f s: %s", ir_path.name, len(blobs),
                time.perf_counter() - started, target)
    return target
