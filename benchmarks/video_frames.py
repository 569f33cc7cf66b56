"""Frames of a recorded video for the study scripts: every ``step``-th frame with its 1-based index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np


def every_nth_frame(video: Path, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(1-based frame index, (H, W, 3) BGR image) for frames 1, 1 + step, 1 + 2 step, ..."""
    cap = cv2.VideoCapture(str(video))
    index = 0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            index += 1
            if (index - 1) % step == 0:
                yield index, image
    finally:
        cap.release()
