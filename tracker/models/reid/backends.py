"""Inference engines for the Re-ID network: each maps a (B, 3, H, W) float32 blob to (B, D) float32 features."""

from __future__ import annotations

import logging
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
from tracker.models.reid.preprocess import TORCHREID_INPUT, PixelNormalisation
from tracker.models.reid.weights import resolve_reid_weights

__all__ = ["FeatureRunner", "TorchRunner", "OnnxRuntimeRunner", "OpenVinoRunner", "IrReidRunner", "build_runner"]

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

    def __init__(self, cfg: ReidConfig) -> None:
        import torch

        self._init_input(cfg)
        from tracker.models.reid.torch_model import build_torch_reid_model

        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)  # process-wide: torch has no per-model thread pool
        self._torch = torch
        self._device = torch.device(cfg.device)
        self._model = build_torch_reid_model(cfg.model_name, resolve_reid_weights(cfg)).to(self._device)
        self.dim = _probe_dim(self, cfg)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self._model(self._torch.from_numpy(blob).to(self._device))
        return out.float().cpu().numpy()


class OnnxRuntimeRunner(_TorchreidInput):
    """ONNX Runtime session over the cached ONNX export."""

    name = "onnxruntime"

    def __init__(self, cfg: ReidConfig, onnx_path: Path | None = None) -> None:
        import onnxruntime as ort

        self._init_input(cfg)
        path = onnx_path or export_onnx(cfg)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        # No busy-waiting between calls: ORT's worker threads otherwise spin for a while after each run and
        # steal the cores the detector needs next (measured: detector 36 -> 53 ms/frame inside the pipeline).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if cfg.num_threads > 0:
            options.intra_op_num_threads = cfg.num_threads
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
    """OpenVINO compiled model over the cached IR (FP32 inference, so features match torch)."""

    name = "openvino"

    def __init__(self, cfg: ReidConfig, ir_path: Path | None = None) -> None:
        import openvino as ov

        self._init_input(cfg)
        path = ir_path or export_openvino(cfg)
        core = ov.Core()
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if cfg.num_threads > 0:
            config["INFERENCE_NUM_THREADS"] = cfg.num_threads
        device = "GPU" if cfg.device.startswith(("gpu", "intel:gpu")) else "CPU"
        self._compiled = core.compile_model(core.read_model(str(path)), device, config)
        self._request = self._compiled.create_infer_request()
        self.path = path
        self.dim = _probe_dim(self, cfg)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        result = self._request.infer({0: blob})
        return np.array(result[self._compiled.output(0)], dtype=np.float32, copy=True)


def build_runner(cfg: ReidConfig) -> FeatureRunner:
    """The runner for ``reid.weights``: a prebuilt OpenVINO IR (.xml, a folder holding one, or an Open Model Zoo
    name) runs on OpenVINO whatever ``reid.backend`` says; torchreid weights run on ``reid.backend``."""
    if is_ir_weights(cfg.weights):
        ir = IrReidRunner(cfg, resolve_ir_model(cfg))
        logger.info("reid: prebuilt OpenVINO IR %s (%s), %d-d features, input %dx%d, batch <= %d", ir.path,
                    ir.precision, ir.dim, ir.input_height, ir.input_width, cfg.batch_size)
        return ir
    runners = {"torch": TorchRunner, "onnxruntime": OnnxRuntimeRunner, "openvino": OpenVinoRunner}
    runner: FeatureRunner = runners[cfg.backend](cfg)
    logger.info("reid: %s backend, %s, %d-d features, input %dx%d, batch <= %d", runner.name, cfg.model_name,
                runner.dim, cfg.input_height, cfg.input_width, cfg.batch_size)
    return runner
