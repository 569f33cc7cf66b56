"""The Re-ID embedder: boxes in a frame -> L2-normalised appearance features (``tracker.core.protocols.Embedder``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from tracker.config import ReidConfig
from tracker.models.reid.backends import FeatureRunner, model_input_spec
from tracker.models.reid.preprocess import (
    CropTransform,
    clip_boxes_xyxy,
    crops_to_blob,
    embeddable_mask,
    l2_normalise_rows,
)

if TYPE_CHECKING:
    from tracker.models.reid.selection import ReidChoice

__all__ = ["ReidEmbedder", "build_reid_embedder"]

logger = logging.getLogger(__name__)


class ReidEmbedder:
    """Crops boxes, runs the network in batches of ``reid.batch_size``, returns unit-length features.

    Boxes that are empty after clipping to the image, or shorter than ``reid.min_crop_height_px``, get a zero row.
    """

    def __init__(self, runner: FeatureRunner, cfg: ReidConfig, crop_transform: CropTransform | None = None,
                 choice: ReidChoice | None = None) -> None:
        self._runner = runner
        self._cfg = cfg
        self._crop_transform = crop_transform
        self.choice = choice  # how the runner's path was chosen (None: built directly)

    @property
    def dim(self) -> int:
        return self._runner.dim

    @property
    def backend(self) -> str:
        return self._runner.name

    @property
    def model_id(self) -> str:
        """Names the model (IR stem or torchreid weights stem), e.g. for its appearance statistics."""
        return self._runner.model_id

    def embed(self, image_bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """Features for boxes of one frame.

        Args:
            image_bgr: (H, W, 3) uint8 BGR.
            xyxy: (N, 4) boxes in image pixels.
        Returns:
            (N, D) float32; rows L2-normalised, zero rows for boxes that cannot be embedded.
        """
        height, width = image_bgr.shape[:2]
        clipped = clip_boxes_xyxy(xyxy, width, height)
        features = np.zeros((len(clipped), self.dim), dtype=np.float32)
        rows = np.flatnonzero(embeddable_mask(clipped, self._cfg.min_crop_height_px))
        cfg = self._cfg
        for start in range(0, len(rows), cfg.batch_size):
            chunk = rows[start:start + cfg.batch_size]
            blob = crops_to_blob(image_bgr, clipped[chunk], self._runner.input_width, self._runner.input_height,
                                 self._crop_transform, self._runner.normalisation)
            features[chunk] = l2_normalise_rows(self._runner(blob))
        return features

    @staticmethod
    def model_inputs_for(cfg: ReidConfig, frames: Iterable[tuple[np.ndarray, np.ndarray]],
                         crop_transform: CropTransform | None = None) -> list[np.ndarray]:
        """The network inputs for the embeddable boxes of each (image (H, W, 3) BGR, xyxy (N, 4)) frame, one
        (M, 3, H, W) float32 blob per frame, as :meth:`embed` makes them (used to calibrate quantisation on the
        model's own inputs). The model's input size and pixel normalisation are read once."""
        input_height, input_width, normalisation = model_input_spec(cfg)
        blobs = []
        for image_bgr, xyxy in frames:
            height, width = image_bgr.shape[:2]
            clipped = clip_boxes_xyxy(xyxy, width, height)
            rows = np.flatnonzero(embeddable_mask(clipped, cfg.min_crop_height_px))
            blobs.append(crops_to_blob(image_bgr, clipped[rows], input_width, input_height, crop_transform,
                                       normalisation))
        return blobs

    def __repr__(self) -> str:
        return f"ReidEmbedder({self._runner.name}, {self._runner.model_id}, dim={self.dim})"


def build_reid_embedder(cfg: ReidConfig, crop_transform: CropTransform | None = None) -> ReidEmbedder:
    """Build the embedder for ``reid.backend`` (exporting/caching the ONNX or OpenVINO model when needed).

    Args:
        cfg: the ``reid`` config section.
        crop_transform: optional per-crop transform applied before resizing, e.g. ``Clahe(cfg.clahe).apply`` when
            ``clahe.reid_crops`` is on.
    With ``reid.backend`` / ``reid.precision`` auto the path (engine, precision, threads) is this machine's cached
    choice, measured first when there is none (tracker.models.reid.autoselect); the choice is logged.

    Raises:
        ConfigError: missing or unusable ``reid.weights`` / ``reid.model_name`` / ``reid.cache_dir``, or no Re-ID
            path within the accuracy bound.
    """
    from tracker.models.reid.autoselect import resolve_reid_path, runner_for_path

    choice = resolve_reid_path(cfg)  # a property of the model and the machine: measured on the crops as they are
    agreement = choice.agreement
    embedder = ReidEmbedder(runner_for_path(cfg, choice.path), cfg, crop_transform, choice)
    logger.info("reid: %s, %s (%s: %s)%s", choice.path.label, embedder.model_id, choice.source, choice.reason,
                f"; cosine to f32 median {agreement.median:.4f}, p05 {agreement.p05:.4f} on {agreement.crops} crops"
                if agreement else "")
    return embedder
