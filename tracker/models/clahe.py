"""CLAHE lighting normalisation on the L channel of Lab, and the "is this frame dark?" decision.

Only lightness is equalised: a and b (the chroma channels) pass through untouched, so hues are kept and a grey image
stays grey. The CLAHE object is built once (``cv2.createCLAHE``) and reused for every image.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from tracker.config import ClaheConfig

__all__ = ["Clahe", "mean_luma", "should_equalise_detector_input", "LUMA_SAMPLE_WIDTH_PX"]

logger = logging.getLogger(__name__)

# mean_luma() measures a downscaled copy this many pixels wide: the mean barely changes, the cost drops ~50x.
LUMA_SAMPLE_WIDTH_PX = 96


class Clahe:
    """Contrast-limited adaptive histogram equalisation of the Lab L channel, configured once.

    Not thread-safe (OpenCV's CLAHE object keeps state per call): use one instance per thread.
    """

    def __init__(self, cfg: ClaheConfig) -> None:
        self.clip_limit = float(cfg.clip_limit)
        self.tile_grid_size = int(cfg.tile_grid_size)
        self._clahe = cv2.createCLAHE(clipLimit=self.clip_limit,
                                      tileGridSize=(self.tile_grid_size, self.tile_grid_size))

    def apply(self, image_bgr: np.ndarray) -> np.ndarray:
        """Equalise lightness only.

        Args:
            image_bgr: (H, W, 3) uint8 BGR.
        Returns:
            (H, W, 3) uint8 BGR, a new array; a and b of Lab are unchanged.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"Clahe.apply expects an (H, W, 3) uint8 BGR image, got shape {image_bgr.shape} "
                             f"dtype {image_bgr.dtype}")
        lab = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2Lab)
        lightness = cv2.extractChannel(lab, 0)
        lab = cv2.insertChannel(self._clahe.apply(lightness), lab, 0)
        return cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)

    def __repr__(self) -> str:
        return f"Clahe(clip_limit={self.clip_limit}, tile_grid_size={self.tile_grid_size})"


def mean_luma(image_bgr: np.ndarray) -> float:
    """Mean Lab lightness L (OpenCV 8-bit scale 0-255) of a downscaled copy of the image.

    Args:
        image_bgr: (H, W, 3) uint8 BGR.
    Returns:
        mean L in [0, 255].
    """
    height, width = image_bgr.shape[:2]
    if width > LUMA_SAMPLE_WIDTH_PX:
        sample_h = max(1, round(height * LUMA_SAMPLE_WIDTH_PX / width))
        image_bgr = cv2.resize(image_bgr, (LUMA_SAMPLE_WIDTH_PX, sample_h), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2Lab)
    return float(cv2.mean(lab)[0])


def should_equalise_detector_input(mean_luma_value: float, cfg: ClaheConfig) -> bool:
    """Whether the detector should see the CLAHE-equalised frame, per ``clahe.detector_input``.

    never: False; always: True; dark: True when ``mean_luma_value < cfg.dark_mean_luma``. Always False when
    ``clahe.enabled`` is off.
    """
    if not cfg.enabled or cfg.detector_input == "never":
        return False
    if cfg.detector_input == "always":
        return True
    return mean_luma_value < cfg.dark_mean_luma
