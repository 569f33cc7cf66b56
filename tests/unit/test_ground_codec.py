"""Ground positions on the camera update stream: FrameMessage carries them only for calibrated cameras."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.bus.schema import FrameMessage, MalformedMessageError, decode_frame, encode_frame


def _message(**ground: np.ndarray) -> FrameMessage:
    n = 3
    return FrameMessage("cam1", 7, 0.6, np.arange(1, n + 1, dtype=np.int64),
                        np.tile(np.array([10, 20, 40, 120], np.float32), (n, 1)), np.full(n, 0.9, np.float32),
                        np.zeros(n, np.float32), **ground)


def test_ground_positions_round_trip() -> None:
    msg = _message(ground_index=np.array([0, 2], np.int32),
                   ground_xy_m=np.array([[1.5, -2.0], [10.25, 3.0]], np.float32),
                   ground_cov_m2=np.array([[0.04, 0.01, 0.09], [0.5, 0.0, 0.5]], np.float32))
    back = decode_frame(encode_frame(msg), expected_camera="cam1")
    np.testing.assert_array_equal(back.ground_index, [0, 2])
    np.testing.assert_allclose(back.ground_xy_m, msg.ground_xy_m)
    np.testing.assert_allclose(back.ground_cov_m2, msg.ground_cov_m2)


def test_uncalibrated_messages_carry_no_ground_fields() -> None:
    fields = encode_frame(_message())
    assert not any(key.startswith(b"gnd") for key in fields)
    assert len(decode_frame(fields).ground_index) == 0


@pytest.mark.parametrize(("index", "cov", "expected"), [
    ([0, 3], [[0.1, 0, 0.1], [0.1, 0, 0.1]], "gnd_idx"),
    ([1, 1], [[0.1, 0, 0.1], [0.1, 0, 0.1]], "gnd_idx"),
    ([0, 1], [[0.1, 0.5, 0.1], [0.1, 0, 0.1]], "positive semi-definite"),
    ([0, 1], [[-1.0, 0, 0.1], [0.1, 0, 0.1]], "positive semi-definite"),
])
def test_malformed_ground_fields_are_refused(index: list[int], cov: list[list[float]], expected: str) -> None:
    good = encode_frame(_message(ground_index=np.array([0, 1], np.int32),
                                 ground_xy_m=np.zeros((2, 2), np.float32),
                                 ground_cov_m2=np.full((2, 3), 0.1, np.float32)))
    bad = dict(good)
    bad[b"gnd_idx"] = np.array(index, "<i4").tobytes()
    bad[b"gnd_cov"] = np.array(cov, "<f4").tobytes()
    with pytest.raises(MalformedMessageError, match=expected):
        decode_frame(bad)
