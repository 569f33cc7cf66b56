"""Drawing tracks onto frames: the annotated replay video (:mod:`tracker.pipeline.video_sink`) and the web
console's camera snapshots (:mod:`tracker.pipeline.snapshot_sink`) share it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streams.base import Frame
from tracker.pipeline.camera import FrameResult

__all__ = ["TrackBox", "annotate", "draw_boxes", "track_colour"]

_COLOURS = np.random.default_rng(7).integers(64, 256, size=(64, 3))  # (64, 3) BGR, one per id modulo 64
_FONT_SCALE = 0.5
_LINE_PX = 2


@dataclass(frozen=True)
class TrackBox:
    """One box to draw: ``xyxy`` in the pixels of the image it is drawn on, its label and the id its colour
    follows (the global id when known, so a person keeps the colour across cameras)."""

    xyxy: tuple[float, float, float, float]
    label: str
    colour_id: int


def track_colour(colour_id: int) -> tuple[int, int, int]:
    """The BGR colour of an id (64 colours, repeating)."""
    b, g, r = (int(c) for c in _COLOURS[colour_id % len(_COLOURS)])
    return b, g, r


def draw_boxes(img: np.ndarray, boxes: Sequence[TrackBox], title: str) -> None:
    """Draws each box with its label above it, and ``title`` at the top left, onto ``img`` (H, W, 3) BGR uint8,
    in place."""
    import cv2

    for box in boxes:
        colour = track_colour(box.colour_id)
        x1, y1, x2, y2 = (int(round(v)) for v in box.xyxy)
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, _LINE_PX)
        cv2.putText(img, box.label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, _FONT_SCALE, colour, 1,
                    cv2.LINE_AA)
    cv2.putText(img, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)


def annotate(frame: Frame, result: FrameResult, global_ids: Mapping[int, int]) -> np.ndarray:
    """A copy of ``frame.image`` (H, W, 3) BGR with each confirmed track's box and id ("G7": global id from
    ``global_ids``, local id -> global id; "L3": local id when it has none) and the camera and frame index."""
    img = frame.image.copy()
    boxes = []
    for u in result.updates:
        gid = global_ids.get(u.local_id)
        x1, y1, x2, y2 = (float(v) for v in u.xyxy)
        boxes.append(TrackBox((x1, y1, x2, y2), f"G{gid}" if gid is not None else f"L{u.local_id}",
                              gid or u.local_id))
    draw_boxes(img, boxes, f"{frame.camera_id} #{frame.index}")
    return img
