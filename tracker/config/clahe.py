"""The ``clahe`` section: lighting normalisation of the detector's and Re-ID's input (tracker.models.clahe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracker.config.fields import _f

__all__ = ["ClaheConfig"]


@dataclass
class ClaheConfig:
    enabled: bool = _f(True, "Master switch for CLAHE (contrast-limited adaptive histogram equalisation) on the "
                       "L channel of Lab.")
    clip_limit: float = _f(2.0, "CLAHE contrast clip limit.", lo=0.0, hi=40.0, lo_open=True)
    tile_grid_size: int = _f(8, "CLAHE tiles per image side.", lo=1, hi=64)
    detector_input: Literal["never", "dark", "always"] = _f(
        "dark", "When to equalise the detector's input: never, only for dark frames (mean L below "
                "dark_mean_luma), or always. Measured (benchmarks/clahe_study.py): on normal frames (L~128) "
                "and mildly dark ones (L~55) CLAHE only adds false positives; on very dark ones (L<35) it "
                "restores recall.")
    dark_mean_luma: float = _f(40.0, "A frame whose mean Lab L (0-255) is below this counts as dark. The dev clip "
                               "has L~128; darkened with gamma 2.5 L~55 (CLAHE: no gain), gamma 4 L~30 (gain).",
                               lo=0.0, hi=255.0)
    luma_check_every_n_frames: int = _f(7, "With detector_input 'dark', re-measure the frame brightness every "
                                        "this many frames (lighting changes slowly).", lo=1, hi=100000)
    reid_crops: bool = _f(False, "Feed Re-ID the CLAHE-equalised frame. Measured (benchmarks/"
                          "reid_lighting_study.py): no cross-camera gain over raw crops once the hub subtracts "
                          "per-camera mean embeddings, and costs ~4-7 ms per frame; CLAHE per crop is worse.")
