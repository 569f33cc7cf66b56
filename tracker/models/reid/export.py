"""Export the torch Re-ID model to ONNX (dynamic batch) and OpenVINO IR, cached in ``reid.cache_dir``.

Cache names are keyed by the weights file's sha256, the model name and the input size, so changing any of them
makes a new export and an unchanged setup reuses the file. Files are written to a temporary name and renamed into
place, so a concurrent reader never sees a half-written model.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from tracker.config import ConfigError, ReidConfig
from tracker.models.reid.weights import resolve_reid_weights, sha256_file

__all__ = ["onnx_cache_path", "openvino_cache_path", "export_onnx", "export_openvino", "ONNX_OPSET",
           "INPUT_NAME", "OUTPUT_NAME"]

logger = logging.getLogger(__name__)

ONNX_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "features"
_SHA_CHARS_IN_NAME = 16
_EXPORT_SAMPLE_BATCH = 2
_VERIFY_MIN_COSINE = 0.999  # an export whose features disagree with torch more than this is rejected
_VERIFY_SEED = 0


def _cache_dir(cfg: ReidConfig) -> Path:
    path = Path(cfg.cache_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"reid.cache_dir = {cfg.cache_dir!r} cannot be created ({exc}); set it to a writable "
                          f"folder, e.g. --set reid.cache_dir=/tmp/mctrack-cache") from exc
    return path


def _stem(cfg: ReidConfig, weights: Path) -> str:
    sha = sha256_file(weights)[:_SHA_CHARS_IN_NAME]
    return f"{cfg.model_name}_{cfg.input_height}x{cfg.input_width}_{sha}"


def onnx_cache_path(cfg: ReidConfig) -> Path:
    """Where the ONNX export for this config lives (whether or not it exists yet)."""
    return _cache_dir(cfg) / f"{_stem(cfg, resolve_reid_weights(cfg))}.onnx"


def openvino_cache_path(cfg: ReidConfig) -> Path:
    """Where the OpenVINO IR (.xml; its .bin beside it) for this config lives."""
    return _cache_dir(cfg) / f"{_stem(cfg, resolve_reid_weights(cfg))}_openvino.xml"


def export_onnx(cfg: ReidConfig) -> Path:
    """The cached ONNX file for ``cfg``, exported from the torch model first if it is not there yet.

    Returns:
        path of a model with input ``images`` (B, 3, input_height, input_width) float32, B dynamic, and output
        ``features`` (B, D).
    """
    target = onnx_cache_path(cfg)
    if target.is_file():
        logger.debug("reid: reusing cached ONNX %s", target)
        return target
    import torch

    from tracker.models.reid.torch_model import build_torch_reid_model

    weights = resolve_reid_weights(cfg)
    started = time.perf_counter()
    model = build_torch_reid_model(cfg.model_name, weights)
    sample = torch.randn(_EXPORT_SAMPLE_BATCH, 3, cfg.input_height, cfg.input_width,
                         generator=torch.Generator().manual_seed(_VERIFY_SEED))
    fd, tmp_name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".onnx.part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; it needs no onnxscript
            torch.onnx.export(model, (sample,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False)
            expected = model(sample).numpy()
        _verify_onnx(tmp, sample.numpy(), expected, cfg)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("reid: exported %s (%s) to %s in %.1f s", weights, cfg.model_name, target,
                time.perf_counter() - started)
    return target


def _verify_onnx(path: Path, sample: np.ndarray, expected: np.ndarray, cfg: ReidConfig) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: sample})[0]
    cos = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    if not np.all(cos >= _VERIFY_MIN_COSINE):
        raise ConfigError(f"reid: the ONNX export of {cfg.model_name} disagrees with torch (cosine {cos.min():.4f}"
                          f" < {_VERIFY_MIN_COSINE}); try reid.backend=torch and report this")


def export_openvino(cfg: ReidConfig) -> Path:
    """The cached OpenVINO IR (.xml) for ``cfg``, converted from the ONNX export first if it is not there yet."""
    target = openvino_cache_path(cfg)
    if target.is_file() and target.with_suffix(".bin").is_file():
        logger.debug("reid: reusing cached OpenVINO IR %s", target)
        return target
    import openvino as ov

    onnx_path = export_onnx(cfg)
    model = ov.convert_model(str(onnx_path))
    fd, tmp_name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".part.xml", dir=target.parent)
    os.close(fd)
    tmp_xml = Path(tmp_name)
    tmp_bin = tmp_xml.with_suffix(".bin")
    try:
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
        os.replace(tmp_bin, target.with_suffix(".bin"))  # .bin first: readers look for the .xml
        os.replace(tmp_xml, target)
    finally:
        tmp_xml.unlink(missing_ok=True)
        tmp_bin.unlink(missing_ok=True)
    logger.info("reid: converted %s to OpenVINO IR %s", onnx_path, target)
    return target
