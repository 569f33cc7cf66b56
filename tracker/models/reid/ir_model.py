"""Runner for prebuilt OpenVINO IR Re-ID models (Intel Open Model Zoo person-reidentification-retail-0277/-0287).

The IR normalises its input itself: it takes BGR 0..255 floats, NCHW at the size stored in the IR (256x128 for
the OMZ models), and outputs (N, D) embeddings (256-d) compared by cosine. The IR's batch is fixed at 1; it is
compiled once per batch size of :data:`tracker.models.reid.ov_batches.STATIC_BATCH_SIZES` (static shapes run
faster on CPU than a dynamic batch).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracker.config import ConfigError, ReidConfig
from tracker.models.reid.ov_batches import StaticBatchModel
from tracker.models.reid.preprocess import RAW_BGR_INPUT, PixelNormalisation

__all__ = ["IrReidRunner", "DEFAULT_IR_PRECISION"]

logger = logging.getLogger(__name__)

#: OpenVINO INFERENCE_PRECISION_HINT used unless the caller picks another (f32: same features on every CPU).
DEFAULT_IR_PRECISION = "f32"
_NCHW_RANK = 4


class IrReidRunner:
    """OpenVINO compiled model of a prebuilt Re-ID IR; ``__call__``: (B, 3, H, W) BGR 0..255 -> (B, D) features.

    Attributes: ``input_height`` / ``input_width`` (from the IR), ``normalisation`` (raw BGR), ``dim``,
    ``model_id`` (the .xml's stem, e.g. person-reidentification-retail-0277).
    """

    name = "openvino-ir"
    normalisation: PixelNormalisation = RAW_BGR_INPUT

    def __init__(self, cfg: ReidConfig, xml_path: Path, inference_precision: str = DEFAULT_IR_PRECISION,
                 threads: int | None = None) -> None:
        """
        Args:
            cfg: the ``reid`` section (num_threads, device).
            xml_path: the IR's .xml (its .bin beside it).
            inference_precision: OpenVINO INFERENCE_PRECISION_HINT (f32, bf16, f16).
            threads: inference threads (0 = OpenVINO's default; None = ``cfg.num_threads``).
        Raises:
            ConfigError: the IR cannot be read or is not a (1, 3, H, W) -> (1, D) model.
        """
        import openvino as ov

        core = ov.Core()
        try:
            model = core.read_model(str(xml_path))
        except RuntimeError as exc:
            raise ConfigError(f"reid.weights: cannot read the OpenVINO IR {xml_path} ({str(exc).splitlines()[0]}); "
                              f"pass an intact .xml with its .bin (e.g. re-download the model)") from None
        if len(model.inputs) != 1 or len(model.outputs) != 1 or model.input(0).get_partial_shape().rank.get_length() \
                != _NCHW_RANK:
            raise ConfigError(f"reid.weights: {xml_path} is not a Re-ID model with one NCHW input and one "
                              f"embedding output")
        shape = model.input(0).get_partial_shape()
        self.input_height, self.input_width = int(shape[2].get_length()), int(shape[3].get_length())
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": inference_precision}
        threads = cfg.num_threads if threads is None else threads
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        device = "GPU" if cfg.device.startswith(("gpu", "intel:gpu")) else "CPU"
        self._model = StaticBatchModel(core, model, device, config)
        self.path = xml_path
        self.model_id = xml_path.stem
        self.precision = inference_precision
        probe = np.zeros((1, 3, self.input_height, self.input_width), np.float32)
        self.dim = int(self(probe).shape[1])

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self._model(blob)
