"""The one place that builds a camera's models (detector, Re-ID embedder, CLAHE) from the app config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.config import Config

if TYPE_CHECKING:
    from tracker.core.protocols import Embedder
    from tracker.models.clahe import Clahe
    from tracker.models.detector import UltralyticsDetector

__all__ = ["build_models"]


def build_models(cfg: Config) -> tuple[UltralyticsDetector, Embedder | None, Clahe | None]:
    """(detector, embedder or None, clahe or None) from the config; raise ConfigError for missing weights."""
    from tracker.models.clahe import Clahe
    from tracker.models.detector import UltralyticsDetector

    detector = UltralyticsDetector(cfg.detector)
    embedder = None
    if cfg.reid.enabled:
        from tracker.models.reid import build_reid_embedder

        embedder = build_reid_embedder(cfg.reid)
    clahe = Clahe(cfg.clahe) if cfg.clahe.enabled else None
    return detector, embedder, clahe
