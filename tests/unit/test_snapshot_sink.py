"""The web console's camera snapshots, pure parts: the rate gate, the labels, how long a queued snapshot may wait,
and the rendering (scaled, boxes drawn, a decodable JPEG). The Redis side is tested in
tests/system/test_snapshots.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracker.bus.schema import Keys
from tracker.pipeline.snapshot_sink import SnapshotGate, render_snapshot, snapshot_label, stale_after_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_gate_lets_the_first_snapshot_through_then_one_per_interval() -> None:
    clock = FakeClock()
    gate = SnapshotGate(1.0, clock)
    taken = []
    for _ in range(24):  # 3 s of frames at 8 fps
        taken.append(gate.take())
        clock.now += 0.125
    assert [i for i, t in enumerate(taken) if t] == [0, 8, 16]


def test_gate_keeps_the_cadence_when_frames_come_just_after_the_due_time() -> None:
    clock = FakeClock()
    gate = SnapshotGate(1.0, clock)
    assert gate.take()
    clock.now = 101.3
    assert gate.take()      # due at 101.0
    clock.now = 101.9
    assert not gate.take()
    clock.now = 102.05
    assert gate.take()      # due at 102.0, not 102.3


def test_gate_restarts_the_interval_when_frames_come_late() -> None:
    clock = FakeClock()
    gate = SnapshotGate(1.0, clock)
    assert gate.take()
    clock.now += 2.5  # the camera was down: the next frame is taken at once, the cadence restarts from it
    assert gate.take()
    clock.now += 0.9
    assert not gate.take()
    clock.now += 0.1
    assert gate.take()
    with pytest.raises(ValueError, match="interval_s"):
        SnapshotGate(0.0)


def test_a_queued_snapshot_may_wait_the_interval_but_at_least_half_a_second() -> None:
    assert stale_after_s(1.0) == 1.0
    assert stale_after_s(5.0) == 5.0
    assert stale_after_s(0.1) == 0.5


def test_labels_show_the_global_id_or_the_camera_local_id_while_pending() -> None:
    assert snapshot_label(5, 12) == "#12"
    assert snapshot_label(5, None) == "c5"


def test_snapshot_key_is_the_agreed_one() -> None:
    assert Keys("mctrack").snapshot("cam1") == "mctrack:v1:cam:cam1:snapshot"


def _scene(width: int, height: int) -> np.ndarray:
    """A smooth gradient (JPEG keeps it close), (H, W, 3) BGR."""
    x = np.linspace(0, 200, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 50, height, dtype=np.float32)[:, None]
    grey = (x + y).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def test_render_scales_to_the_max_width_keeps_the_aspect_and_draws_the_boxes() -> None:
    image = _scene(768, 576)
    box = (100.0, 200.0, 300.0, 500.0)
    jpeg, width, height = render_snapshot(image, [(5, box)], {5: 12}, "cam1  frame 7", 640, 80)
    assert (width, height) == (640, 480)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (480, 640, 3)
    plain = cv2.resize(image, (640, 480), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    diff = np.abs(decoded.astype(np.int16) - plain).max(axis=2)
    scale = 640 / 768
    left = int(round(box[0] * scale))
    mid_y = int(round((box[1] + box[3]) / 2 * scale))
    assert diff[mid_y, left - 1:left + 2].max() > 40  # the box's left edge, at the scaled position
    inside = diff[int(box[1] * scale) + 10:int(box[3] * scale) - 10, left + 10:int(box[2] * scale) - 10]
    assert np.median(inside) < 8  # not drawn over: only JPEG noise


def test_render_never_scales_up() -> None:
    jpeg, width, height = render_snapshot(_scene(448, 576), [], {}, "cam2  frame 1", 640, 70)
    assert (width, height) == (448, 576)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (576, 448, 3)
