"""Person crops -> network input: clip boxes, crop, resize, then the model's own pixel normalisation (torchreid:
BGR->RGB and ImageNet mean/std; Open Model Zoo IR: raw BGR 0..255), NCHW float32."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["IMAGENET_MEAN_RGB", "IMAGENET_STD_RGB", "clip_boxes_xyxy", "embeddable_mask", "crops_to_blob",
           "l2_normalise_rows", "CropTransform", "PixelNormalisation", "TORCHREID_INPUT", "RAW_BGR_INPUT"]

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_PIXEL_MAX = 255.0
# (x / 255 - mean) / std == x * scale + offset, per RGB channel
_SCALE_RGB = (1.0 / (_PIXEL_MAX * IMAGENET_STD_RGB)).astype(np.float32)
_OFFSET_RGB = (-IMAGENET_MEAN_RGB / IMAGENET_STD_RGB).astype(np.float32)
_NORM_EPS = 1e-12


@dataclass(frozen=True)
class PixelNormalisation:
    """How a model wants its pixels: blob channel c = source BGR channel ``bgr_channels[c]`` * scale[c] + offset[c].

    A property of the model (torchreid: RGB and ImageNet mean/std; Open Model Zoo IR: BGR 0..255, the IR
    normalises itself), so the embedder asks its runner for it.
    """

    bgr_channels: tuple[int, int, int]
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]


#: torchreid models: RGB, (x / 255 - mean) / std.
TORCHREID_INPUT = PixelNormalisation((2, 1, 0),
                                     (float(_SCALE_RGB[0]), float(_SCALE_RGB[1]), float(_SCALE_RGB[2])),
                                     (float(_OFFSET_RGB[0]), float(_OFFSET_RGB[1]), float(_OFFSET_RGB[2])))
#: Open Model Zoo Re-ID IR: BGR, raw 0..255 floats.
RAW_BGR_INPUT = PixelNormalisation((0, 1, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))

# Optional per-crop transform (e.g. CLAHE): (h, w, 3) uint8 BGR -> (h, w, 3) uint8 BGR.
CropTransform = Callable[[np.ndarray], np.ndarray]


def clip_boxes_xyxy(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer pixel slices of boxes clipped to the image.

    Args:
        xyxy: (N, 4) float boxes in continuous pixel coordinates (pixel column c covers [c, c+1)).
    Returns:
        (N, 4) int64 left, top, right, bottom with 0 <= left <= right <= width (likewise vertically), for
        ``image[top:bottom, left:right]``; every pixel the box touches is included.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    boxes = np.nan_to_num(boxes, nan=0.0, posinf=float(max(width, height)), neginf=0.0)
    out = np.empty(boxes.shape, dtype=np.int64)
    out[:, 0] = np.clip(np.floor(boxes[:, 0]), 0, width)
    out[:, 1] = np.clip(np.floor(boxes[:, 1]), 0, height)
    out[:, 2] = np.clip(np.ceil(boxes[:, 2]), 0, width)
    out[:, 3] = np.clip(np.ceil(boxes[:, 3]), 0, height)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0])
    out[:, 3] = np.maximum(out[:, 3], out[:, 1])
    return out


def embeddable_mask(clipped_ltrb: np.ndarray, min_height_px: float) -> np.ndarray:
    """(N,) bool: the clipped crop is non-empty and at least ``min_height_px`` tall."""
    widths = clipped_ltrb[:, 2] - clipped_ltrb[:, 0]
    heights = clipped_ltrb[:, 3] - clipped_ltrb[:, 1]
    return (widths > 0) & (heights > 0) & (heights >= min_height_px)


def crops_to_blob(image_bgr: np.ndarray, clipped_ltrb: np.ndarray, input_width: int, input_height: int,
                  crop_transform: CropTransform | None = None,
                  normalisation: PixelNormalisation = TORCHREID_INPUT) -> np.ndarray:
    """Crop, resize and normalise.

    Args:
        image_bgr: (H, W, 3) uint8 BGR.
        clipped_ltrb: (M, 4) int boxes from :func:`clip_boxes_xyxy`, all non-empty.
        crop_transform: applied to each crop before resizing (e.g. CLAHE), or None.
        normalisation: the model's channel order and pixel scaling (default: torchreid's RGB ImageNet mean/std).
    Returns:
        (M, 3, input_height, input_width) float32 in the model's channel order and scaling.
    """
    count = len(clipped_ltrb)
    resized = np.empty((count, input_height, input_width, 3), dtype=np.uint8)
    for i, (left, top, right, bottom) in enumerate(clipped_ltrb):
        crop = image_bgr[top:bottom, left:right]
        if crop_transform is not None:
            crop = crop_transform(np.ascontiguousarray(crop))
        cv2.resize(crop, (input_width, input_height), dst=resized[i], interpolation=cv2.INTER_LINEAR)
    blob = np.empty((count, 3, input_height, input_width), dtype=np.float32)
    for channel in range(3):
        np.multiply(resized[..., normalisation.bgr_channels[channel]], np.float32(normalisation.scale[channel]),
                    out=blob[:, channel])
        if normalisation.offset[channel]:
            blob[:, channel] += np.float32(normalisation.offset[channel])
    return blob


def l2_normalise_rows(features: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, D) float32 with unit-length rows (zero rows stay zero)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, _NORM_EPS)
