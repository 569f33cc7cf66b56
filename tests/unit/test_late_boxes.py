"""Boxes of earlier frames reported late (tentative boxes of a newly confirmed track, filled gaps): their frames'
times (tracker.pipeline.late_boxes) and their block on the camera update stream (FrameMessage.late)."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.bus.schema import FrameMessage, LateBoxes, MalformedMessageError, decode_frame, encode_frame
from tracker.core.track import BoxRecord
from tracker.pipeline.late_boxes import RecentFrameTimes, late_boxes


def test_frame_times_as_seen_interpolated_over_skipped_frames_and_bounded():
    times = RecentFrameTimes(keep_frames=5)
    for f, ts in [(1, 0.0), (2, 0.1), (4, 0.3), (8, 0.7), (9, 0.8)]:  # frames 3, 5-7 skipped by the source
        times.add(f, ts)
    assert times.time_of(8) == 0.7
    assert times.time_of(6) == pytest.approx(0.5), "between frames 4 and 8"
    assert times.time_of(2) == 0.3, "frames older than keep_frames are forgotten: the oldest kept time"
    assert times.time_of(12) == 0.8
    with pytest.raises(ValueError, match="no frame time"):
        RecentFrameTimes(3).time_of(1)


def test_late_boxes_take_their_frames_times():
    times = RecentFrameTimes(keep_frames=10)
    for f in range(1, 6):
        times.add(f, f / 7.0)
    box = np.array([1.0, 2.0, 11.0, 42.0])
    out = late_boxes([(4, BoxRecord(2, box, 0.7)), (4, BoxRecord(3, box + 1, 0.7))], times)
    assert [(b.local_id, b.frame_index, b.timestamp_s) for b in out] == [(4, 2, 2 / 7.0), (4, 3, 3 / 7.0)]
    np.testing.assert_array_equal(out[1].xyxy, box + 1)


def _message(late: LateBoxes | None = None) -> FrameMessage:
    n = 2
    extra = {} if late is None else {"late": late}
    return FrameMessage("cam1", 9, 1.2, np.array([3, 4], np.int64),
                        np.tile(np.array([10, 20, 40, 120], np.float32), (n, 1)), np.full(n, 0.9, np.float32),
                        np.zeros(n, np.float32), **extra)


def _late(frames=(6, 7, 8), ids=(4, 4, 4), conf=0.6) -> LateBoxes:
    k = len(frames)
    return LateBoxes(np.array(ids, np.int64), np.array(frames, np.int64), np.array(frames, np.float64) / 7.0,
                     np.tile(np.array([12, 20, 42, 118], np.float32), (k, 1)), np.full(k, conf, np.float32))


def test_late_boxes_round_trip():
    msg = _message(_late())
    back = decode_frame(encode_frame(msg), expected_camera="cam1").late
    np.testing.assert_array_equal(back.local_ids, [4, 4, 4])
    np.testing.assert_array_equal(back.frame_index, [6, 7, 8])
    np.testing.assert_allclose(back.timestamp_s, msg.late.timestamp_s)
    np.testing.assert_allclose(back.xyxy, msg.late.xyxy)
    np.testing.assert_allclose(back.confidence, 0.6)


def test_messages_without_late_boxes_carry_no_late_fields():
    fields = encode_frame(_message())
    assert not any(key.startswith(b"late") for key in fields)
    assert len(decode_frame(fields).late) == 0


@pytest.mark.parametrize(("late", "expected"), [
    (_late(frames=(6, 9, 8)), "late_frame"),          # not before the message's frame 9
    (_late(frames=(6, 6, 8)), "repeat a"),            # the same track and frame twice
    (_late(conf=1.5), "late_conf"),
])
def test_malformed_late_boxes_are_refused(late: LateBoxes, expected: str):
    with pytest.raises(MalformedMessageError, match=expected):
        encode_frame(_message(late))


def test_a_missing_late_field_is_refused():
    fields = dict(encode_frame(_message(_late())))
    del fields[b"late_ts"]
    with pytest.raises(MalformedMessageError, match="late_ts"):
        decode_frame(fields)
