"""A sink that writes one camera's frames, with their tracks drawn in, to an MP4 file."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streams.base import Frame
from tracker.pipeline.camera import FrameResult

if TYPE_CHECKING:
    import cv2

__all__ = ["VideoSink", "annotate"]

_COLOURS = np.random.default_rng(7).integers(64, 256, size=(64, 3))  # (64, 3) BGR, one per id modulo 64


def annotate(frame: Frame, result: FrameResult, global_ids: Mapping[int, int]) -> np.ndarray:
    """A copy of ``frame.image`` (H, W, 3) BGR with each confirmed track's box and id ("G7": global id from
    ``global_ids``, local id -> global id; "L3": local id when it has none) and the camera and frame index."""
    import cv2

    img = frame.image.copy()
    for u in result.updates:
        gid = global_ids.get(u.local_id)
        label = f"G{gid}" if gid is not None else f"L{u.local_id}"
        colour = tuple(int(c) for c in _COLOURS[(gid or u.local_id) % len(_COLOURS)])
        x1, y1, x2, y2 = (int(round(v)) for v in u.xyxy)
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(img, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    cv2.putText(img, f"{frame.camera_id} #{frame.index}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return img


class VideoSink:
    """Writes every frame of one camera, annotated (:func:`annotate`), to ``path`` (mp4v at ``fps`` frames/s; the
    size of the first frame).

    Args:
        global_ids: asked at every frame for the camera's local id -> global id map (e.g. the hub's); None: local
            ids only.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float,
                 global_ids: Callable[[], Mapping[int, int]] | None = None) -> None:
        self.path = Path(path)
        self.fps = fps
        self._global_ids = global_ids
        self._writer: cv2.VideoWriter | None = None  # opened at the first frame

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        import cv2

        img = annotate(frame, result, self._global_ids() if self._global_ids is not None else {})
        if self._writer is None:
            h, w = img.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h))
        self._writer.write(img)

    def close(self, *, completed: bool = True) -> None:
        """Finishes the file (also after a failed run: the frames written so far are kept)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
