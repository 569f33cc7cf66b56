"""Inference engines for the Re-ID network: each maps a (B, 3, H, W) float32 blob to (B, D) float32 features."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from tracker.config import ReidConfig
from tracker.models.reid.export import (
    INPUT_NAME,
    OUTPUT_NAME,
    export_onnx,
    export_openvino,
)
from tracker.models.reid.ir_model import IrReidRunner
from tracker.models.reid.omz import is_ir_weights, resolve_ir_model
from tracker.models.reid.ov_batches import StaticBatchModel
from tracker.models.reid.preprocess import RAW_BGR_INPUT, TORCHREID_INPUT, PixelNormalisation
from tracker.models.reid.selection import ReidPath
from tracker.models.reid.weights import resolve_reid_weights

__all__ = ["FeatureRunner", "TorchRunner", "OnnxRuntimeRunner", "OpenVinoRunner", "IrReidRunner", "build_runner",
           "RUNNER_FACTORIES", "RunnerFactory", "default_path", "model_input_spec", "model_weights_file"]

logger = logging.getLogger(__name__)


class FeatureRunner(Protocol):
    """Runs the network on a preprocessed blob."""

    name: str
    dim: int
    input_height: int
    input_width: int
    normalisation: PixelNormalisation
    model_id: str  # names the model's appearance statistics (tracker.models.reid.stats)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        """blob: (B, 3, H, W) float32 -> (B, D) float32 raw (not normalised) features."""
        ...


def _probe_dim(runner: FeatureRunner, cfg: ReidConfig) -> int:
    return int(runner(np.zeros((1, 3, cfg.input_height, cfg.input_width), np.float32)).shape[1])


class _TorchreidInput:
    """What the three torchreid runners share: input size from the config, RGB ImageNet normalisation, and the
    weights file's stem as model id."""

    normalisation: PixelNormalisation = TORCHREID_INPUT

    def _init_input(self, cfg: ReidConfig) -> None:
        self.input_height, self.input_width = cfg.input_height, cfg.input_width
        self.model_id = Path(cfg.weights).stem


class TorchRunner(_TorchreidInput):
    """torchreid model in eval mode."""

    name = "torch"

    precision = "f32"

    def __init__(self, cfg: ReidConfig, threads: int) -> None:
        import torch

        self._init_input(cfg)
        from tracker.models.reid.torch_model import build_torch_reid_model

        if threads > 0:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model thread pool
        self._torch = torch
        self._device = torch.device(cfg.device)
        self._model = build_torch_reid_model(cfg.model_name, resolve_reid_weights(cfg)).to(self._device)
        self.dim = _probe_dim(self, cfg)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self._model(self._torch.from_numpy(blob).to(self._device))
        return out.float().cpu().numpy()


class OnnxRuntimeRunner(_TorchreidInput):
    """ONNX Runtime session over the cached ONNX export (f32), or its int8 quantisation (static QDQ, made by
    tracker.models.reid.quantize) when ``onnx_path`` is that file and ``precision`` is int8."""

    name = "onnxruntime"

    def __init__(self, cfg: ReidConfig, onnx_path: Path | None = None, threads: int | None = None,
                 precision: str = "f32") -> None:
        import onnxruntime as ort

        self._init_input(cfg)
        path = onnx_path or export_onnx(cfg)
        threads = cfg.num_threads if threads is None else threads
        self.precision = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        # No busy-waiting between calls: ORT's worker threads otherwise spin for a while after each run and
        # steal the cores the detector needs next (measured: detector 36 -> 53 ms/frame inside the pipeline).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if threads > 0:
            options.intra_op_num_threads = threads
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if cfg.device.startswith("cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.path = path
        self.dim = _probe_dim(self, cfg)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: blob})[0]


class OpenVinoRunner(_TorchreidInput):
    """OpenVINO compiled model over the cached IR of torchreid weights: f32 inference (features match torch), bf16
    (the precision hint: AVX512_BF16 / AMX kernels), or an int8-quantised IR (``ir_path`` from
    tracker.models.reid.quantize; its unquantised layers run in f32)."""

    name = "openvino"

    def __init__(self, cfg: ReidConfig, ir_path: Path | None = None, threads: int | None = None,
                 precision: str = "f32") -> None:
        import openvino as ov

        self._init_input(cfg)
        path = ir_path or export_openvino(cfg)
        threads = cfg.num_threads if threads is None else threads
        self.precision = precision
        core = ov.Core()
        hint = "bf16" if precision == "bf16" else "f32"
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        device = "GPU" if cfg.device.startswith(("gpu", "intel:gpu")) else "CPU"
        self._model = StaticBatchModel(core, core.read_model(str(path)), device, config)
        self.path = path
        self.dim = _probe_dim(self, cfg)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self._model(blob)


def _torch_runner(cfg: ReidConfig, path: ReidPath, model_file: Path | None) -> FeatureRunner:
    return TorchRunner(cfg, path.threads)


def _onnxruntime_runner(cfg: ReidConfig, path: ReidPath, model_file: Path | None) -> FeatureRunner:
    return OnnxRuntimeRunner(cfg, model_file, path.threads, path.precision)


def _openvino_runner(cfg: ReidConfig, path: ReidPath, model_file: Path | None) -> FeatureRunner:
    if is_ir_weights(cfg.weights):  # a prebuilt IR (or its int8 quantisation, model_file) runs as it is
        hint = "bf16" if path.precision == "bf16" else "f32"
        return IrReidRunner(cfg, model_file or resolve_ir_model(cfg), hint, path.threads)
    return OpenVinoRunner(cfg, model_file, path.threads, path.precision)


#: (reid config, path, model file or None = the engine's cached f32 export) -> runner. An engine registered here is
#: one the path choice (tracker.models.reid.autoselect) can build; ``model_file`` is the int8 model for int8 paths.
RunnerFactory = Callable[[ReidConfig, ReidPath, "Path | None"], FeatureRunner]
RUNNER_FACTORIES: dict[str, RunnerFactory] = {"torch": _torch_runner, "onnxruntime": _onnxruntime_runner,
                                              "openvino": _openvino_runner}


def model_weights_file(cfg: ReidConfig) -> Path:
    """The file that holds ``cfg``'s model: a prebuilt IR's .xml, or the torchreid state dict."""
    return resolve_ir_model(cfg) if is_ir_weights(cfg.weights) else resolve_reid_weights(cfg)


def model_input_spec(cfg: ReidConfig) -> tuple[int, int, PixelNormalisation]:
    """(input height, input width, pixel normalisation) of ``cfg``'s model: a prebuilt IR's own input size and raw
    BGR, or ``reid.input_height`` x ``reid.input_width`` with torchreid's RGB ImageNet normalisation."""
    if not is_ir_weights(cfg.weights):
        return cfg.input_height, cfg.input_width, TORCHREID_INPUT
    import openvino as ov

    shape = ov.Core().read_model(str(resolve_ir_model(cfg))).input(0).get_partial_shape()
    return int(shape[2].get_length()), int(shape[3].get_length()), RAW_BGR_INPUT


def default_path(cfg: ReidConfig) -> ReidPath:
    """The f32 path of the configured engine: a prebuilt IR on openvino, torchreid weights on ``reid.backend``
    (onnxruntime when auto)."""
    if is_ir_weights(cfg.weights):
        return ReidPath("openvino", "f32", cfg.num_threads)
    return ReidPath("onnxruntime" if cfg.backend == "auto" else cfg.backend, "f32", cfg.num_threads)


def build_runner(cfg: ReidConfig, path: ReidPath | None = None, model_file: Path | None = None) -> FeatureRunner:
    """The runner for ``path`` (default: :func:`default_path`). A prebuilt OpenVINO IR (.xml, a folder holding one,
    or an Open Model Zoo name) always runs on openvino; torchreid weights on the path's engine."""
    path = path or default_path(cfg)
    runner = RUNNER_FACTORIES[path.engine](cfg, path, model_file)
    logger.debug("reid: %s runner, %s, %d-d features, input %dx%d, batch <= %d", path.label, runner.model_id,
                 runner.dim, runner.input_height, runner.input_width, cfg.batch_size)
    return runner
