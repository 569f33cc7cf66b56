"""The detector's input size for input_shape auto: the long side at the model's size, except for very wide frames."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.models.detector import letterbox_blob, letterbox_size

MODEL = (640, 640)


@pytest.mark.parametrize("frame_hw", [(576, 768), (480, 640), (1080, 1920), (288, 360), (576, 448), (720, 1280)])
def test_ordinary_cameras_keep_the_model_size(frame_hw: tuple[int, int]) -> None:
    """4:3, 16:9, 5:4 and portrait frames: the short side already comes out at half the model's size or more."""
    assert letterbox_size(frame_hw, MODEL, 0.5, 32) == MODEL


def test_a_wide_street_view_keeps_its_short_side_at_half_the_model_size() -> None:
    """KITTI-17 (1224x370): 320x1056 instead of 192x640 (its distant walkers were too small to score)."""
    side = letterbox_size((370, 1224), MODEL, 0.5, 32)
    assert side == (1056, 1056)
    blob, gain_xy, _ = letterbox_blob(np.zeros((370, 1224, 3), np.uint8), side, 32, auto=True)
    assert blob.shape[2:] == (320, 1056) and gain_xy[0] == pytest.approx(1056 / 1224)
    assert blob.shape[2] * blob.shape[3] <= MODEL[0] * MODEL[1]


def test_a_very_wide_frame_stops_at_the_square_inputs_pixel_count() -> None:
    """A 6:1 panorama would need 1920 px of width for a 320 px short side: it gets the square's pixels instead."""
    side, _ = letterbox_size((400, 2400), MODEL, 0.5, 32)
    assert side % 32 == 0 and side > 640
    height = round(400 * side / 2400)
    assert side * height <= MODEL[0] * MODEL[1] and height < 320


def test_tall_frames_are_treated_like_wide_ones_and_zero_turns_it_off() -> None:
    assert letterbox_size((1224, 370), MODEL, 0.5, 32) == (1056, 1056)
    assert letterbox_size((370, 1224), MODEL, 0.0, 32) == MODEL
