"""A sink that writes one camera's frames, with their tracks drawn in (:func:`tracker.pipeline.draw.annotate`), to an
MP4 file."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from streams.base import Frame
from tracker.pipeline.camera import FrameResult
from tracker.pipeline.draw import annotate

if TYPE_CHECKING:
    import cv2

__all__ = ["VideoSink", "annotate"]


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
