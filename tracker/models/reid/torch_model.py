"""The torchreid network with its weights loaded, in eval mode (its eval output is the appearance feature)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from tracker.config import ConfigError
from tracker.models.reid.weights import load_state_dict

__all__ = ["build_torch_reid_model", "CLASSIFIER_PREFIX"]

logger = logging.getLogger(__name__)

CLASSIFIER_PREFIX = "classifier."
# num_classes for a state dict without a classifier: the classifier is unused at inference, any size will do.
_PLACEHOLDER_NUM_CLASSES = 1


def _torchreid_build_model() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Cython evaluation ... is unavailable" (training metrics only)
        from torchreid.reid.models import build_model
    return build_model


def build_torch_reid_model(model_name: str, weights_path: str | Path) -> Any:
    """Build ``model_name`` with torchreid and load ``weights_path`` into it.

    ``num_classes`` comes from the state dict's classifier; a missing classifier, or one whose shape does not fit,
    is tolerated (it is not used for features). Every other parameter must match.

    Returns:
        torch.nn.Module in eval mode on the CPU; ``model(x)`` with x (N, 3, H, W) gives (N, D) features.
    Raises:
        ConfigError: unknown ``reid.model_name`` or weights that do not fit it (names ``reid.weights``).
    """
    state = load_state_dict(weights_path)
    classifier = state.get(CLASSIFIER_PREFIX + "weight")
    num_classes = int(classifier.shape[0]) if classifier is not None else _PLACEHOLDER_NUM_CLASSES
    build_model = _torchreid_build_model()
    try:
        model = build_model(model_name, num_classes=num_classes, pretrained=False)
    except KeyError as exc:
        raise ConfigError(f"reid.model_name = {model_name!r} is not a torchreid model ({exc}); use e.g. "
                          f"osnet_x0_25, osnet_x1_0") from None
    own = model.state_dict()
    dropped = [k for k, v in state.items()
               if k.startswith(CLASSIFIER_PREFIX) and (k not in own or own[k].shape != v.shape)]
    for k in dropped:
        del state[k]
    wrong_shape = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.startswith(CLASSIFIER_PREFIX)]
    unexpected = [k for k in state if k not in own]
    if wrong_shape or missing or unexpected:
        raise ConfigError(
            f"reid.weights = {str(weights_path)!r} does not fit reid.model_name = {model_name!r}: "
            f"{len(wrong_shape)} parameters of another shape (e.g. {wrong_shape[:2]}), {len(missing)} missing "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); pass weights trained "
            f"for {model_name} or set reid.model_name to the architecture they were trained for")
    model.load_state_dict(state, strict=False)
    if classifier is None or dropped:
        logger.info("reid: %s has no usable classifier; not needed for features", weights_path)
    model.eval()
    return model
