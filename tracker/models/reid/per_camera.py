"""One camera's view of a shared Re-ID embedder: the network is shared, per-camera crop state (colour alignment)
is not."""

from __future__ import annotations

from tracker.config import ReidConfig
from tracker.core.protocols import Embedder
from tracker.models.reid.colour import CameraColourAligner, ColourReference
from tracker.models.reid.embedder import ReidEmbedder

__all__ = ["colour_reference", "per_camera_embedder"]


def colour_reference(cfg: ReidConfig) -> ColourReference:
    """The ``reid.colour_reference_*`` target as a :class:`ColourReference`."""
    m, s = (float(v) for v in cfg.colour_reference_mean_lab), (float(v) for v in cfg.colour_reference_std_lab)
    mean, std = tuple(m), tuple(s)
    return ColourReference((mean[0], mean[1], mean[2]), (std[0], std[1], std[2]))


def per_camera_embedder(embedder: Embedder | None, cfg: ReidConfig) -> Embedder | None:
    """``embedder`` for one camera: with ``reid.colour_alignment`` on, a view of it (same network) whose crops pass
    through this camera's own :class:`CameraColourAligner`; otherwise ``embedder`` itself (also for embedders
    that are not a :class:`ReidEmbedder`, e.g. in tests)."""
    if cfg.colour_alignment == "none" or not isinstance(embedder, ReidEmbedder):
        return embedder
    aligner = CameraColourAligner(colour_reference(cfg), cfg.colour_alignment, cfg.colour_window_crops,
                                  cfg.colour_max_gain)
    return embedder.with_crop_transform(aligner)
