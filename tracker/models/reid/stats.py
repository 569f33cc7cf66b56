"""The Re-ID model's appearance scale (``tracker.identity.scale.AppearanceScale``) for the configured weights.

Looked up, in order: a measured file ``<reid.cache_dir>/reid-stats/<model id>.json`` (``{"same_cosine": ..,
"diff_cosine": .., "diff_p95_cosine": ..}``, e.g. from ``benchmarks/reid_model_stats.py`` on the site's own
video), the built-in figures of the models measured in docs/reid.md (``KNOWN_SCALES``), else the reference (OSNet)
scale with a warning.
The model id is the weights' file stem, or the IR folder's / Open Model Zoo model's name.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tracker.config import ConfigError, ReidConfig
from tracker.identity.scale import KNOWN_SCALES, REFERENCE_SCALE, AppearanceScale

__all__ = ["reid_model_id", "appearance_scale", "scale_file"]

logger = logging.getLogger(__name__)

_MODEL_FILE_SUFFIXES = {".xml", ".pt", ".pth", ".tar", ".onnx"}


def reid_model_id(weights: str) -> str:
    """Model id of ``reid.weights``: ``../m/osnet_x0_25_msmt17.pt`` -> ``osnet_x0_25_msmt17``;
    ``../m/person-reidentification-retail-0277`` (folder or OMZ name) or its ``FP16/<name>.xml`` -> the name."""
    path = Path(weights.rstrip("/"))
    return path.stem if path.suffix.lower() in _MODEL_FILE_SUFFIXES else path.name


def scale_file(cfg: ReidConfig) -> Path:
    """Where a measured scale for ``reid.weights`` is looked for."""
    return Path(cfg.cache_dir).expanduser() / "reid-stats" / f"{reid_model_id(cfg.weights)}.json"


def appearance_scale(cfg: ReidConfig) -> AppearanceScale:
    """The appearance scale of the configured Re-ID model (see the module docstring for the lookup order).

    Raises:
        ConfigError: a measured file that is unreadable or holds impossible figures.
    """
    model_id = reid_model_id(cfg.weights)
    measured = scale_file(cfg)
    if measured.is_file():
        try:
            data = json.loads(measured.read_text())
            p95 = data.get("diff_p95_cosine")
            scale = AppearanceScale(float(data["same_cosine"]), float(data["diff_cosine"]),
                                    None if p95 is None else float(p95), source=str(measured))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"reid: the appearance statistics {measured} are unusable ({exc}); delete the file "
                              f"or measure again (benchmarks/reid_model_stats.py)") from None
    elif model_id in KNOWN_SCALES:
        scale = KNOWN_SCALES[model_id]
    else:
        logger.warning("reid: no appearance statistics for model %r (looked for %s); appearance thresholds use "
                       "OSNet-x0.25's scale, which may not suit it: measure them (docs/reid.md)", model_id, measured)
        return REFERENCE_SCALE
    logger.info("reid: %s appearance scale: same-person cosine %.2f, different-person %.2f (%s)", model_id,
                scale.same_cosine, scale.diff_cosine, scale.source)
    return scale
