"""Gap filling: a confirmed track found again after a few missed frames gets the boxes of its gap, interpolated
between its output boxes before and after (tracker.core.gap_fill, MultiObjectTracker's ``filled``)."""

import numpy as np
import pytest

from tracker.core.detections import Detections
from tracker.core.gap_fill import gap_fill_max_frames, interpolate_gap
from tracker.core.multi_tracker import MultiObjectTracker
from tracker.core.params import TrackerParams
from tracker.core.track import BoxRecord


def _dets(boxes):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(boxes, np.full(len(boxes), 0.9, np.float32))


def _walker(frame, x0=100.0, vx=4.0):
    x = x0 + vx * frame
    return [x, 100.0, x + 40.0, 200.0]


def test_interpolate_gap_gives_the_boxes_of_the_frames_in_between():
    before = BoxRecord(10, np.array([0.0, 0.0, 10.0, 20.0]), 0.8)
    after = BoxRecord(14, np.array([40.0, 8.0, 54.0, 36.0]), 0.6)
    filled = interpolate_gap(before, after)
    assert [r.frame_index for r in filled] == [11, 12, 13]
    np.testing.assert_allclose([r.xyxy for r in filled], [[10.0, 2.0, 21.0, 24.0], [20.0, 4.0, 32.0, 28.0],
                                                          [30.0, 6.0, 43.0, 32.0]])
    assert [r.confidence for r in filled] == [0.6, 0.6, 0.6], "no surer than the weaker end"
    assert interpolate_gap(before, BoxRecord(11, after.xyxy, 0.6)) == [], "adjacent frames: no gap"


@pytest.mark.parametrize(("max_gap_s", "fps", "frames"), [(1.0, 7.0, 7), (1.0, 25.0, 25), (0.7, 10.0, 7),
                                                          (0.3, 10.0, 3), (0.05, 10.0, 0), (0.0, 30.0, 0)])
def test_gap_bound_in_frames_is_rounded_down(max_gap_s, fps, frames):
    assert gap_fill_max_frames(max_gap_s, fps) == frames


def _track_with_gap(missed: list[int], last_frame: int, **params) -> tuple[list, list]:
    """One walker tracked from frame 1 to ``last_frame``, undetected in the frames ``missed``; the detection box is
    the output box. Returns (every filled (track id, record), every output as (frame, track id, box))."""
    trk = MultiObjectTracker(TrackerParams(n_init_frames=2, max_age_s=2.0, output_box="detection", **params),
                             fps=10)
    filled, outputs = [], []
    for f in range(1, last_frame + 1):
        step = trk.update(Detections.empty() if f in missed else _dets([_walker(f)]), f)
        filled += step.filled
        outputs += [(f, o.track_id, o.xyxy) for o in step.outputs]
    return filled, outputs


def test_a_gap_is_filled_when_the_track_comes_back():
    filled, outputs = _track_with_gap(missed=[5, 6, 7], last_frame=10, fill_gaps_max_s=0.3)  # 3 frames at 10 fps
    assert {tid for _, tid, _ in outputs} == {1}, "one track over the gap"
    assert [(tid, r.frame_index) for tid, r in filled] == [(1, 5), (1, 6), (1, 7)]
    # the walker moves linearly, so the boxes filled in are exactly where it was
    np.testing.assert_allclose([r.xyxy for _, r in filled], [_walker(f) for f in (5, 6, 7)])


def test_filtered_boxes_are_interpolated_between_the_output_boxes():
    trk = MultiObjectTracker(TrackerParams(n_init_frames=2, max_age_s=2.0, fill_gaps_max_s=0.5), fps=10)
    out = {}
    filled = []
    for f in range(1, 12):
        step = trk.update(Detections.empty() if f in (6, 7) else _dets([_walker(f)]), f)
        for o in step.outputs:  # one track
            out[f] = o.xyxy
        filled += step.filled
    assert [r.frame_index for _, r in filled] == [6, 7]
    np.testing.assert_allclose(filled[0][1].xyxy, out[5] + (out[8] - out[5]) / 3)
    np.testing.assert_allclose(filled[1][1].xyxy, out[5] + 2 * (out[8] - out[5]) / 3)


def test_no_fill_beyond_the_bound():
    filled, outputs = _track_with_gap(missed=[5, 6, 7, 8], last_frame=10, fill_gaps_max_s=0.3)
    assert {tid for _, tid, _ in outputs} == {1} and 9 in [f for f, _, _ in outputs], "the track came back"
    assert filled == [], "a 4-frame gap is longer than 0.3 s at 10 fps"


def test_no_fill_when_off():
    filled, _ = _track_with_gap(missed=[5, 6], last_frame=8, fill_gaps_max_s=0.0)
    assert filled == []


def test_no_fill_for_a_track_that_never_comes_back():
    filled, outputs = _track_with_gap(missed=list(range(5, 40)), last_frame=40, fill_gaps_max_s=1.0)
    assert max(f for f, _, _ in outputs) == 4
    assert filled == []


def test_max_late_frames_covers_tentative_boxes_and_gaps():
    params = TrackerParams(n_init_frames=3, fill_gaps_max_s=1.0)
    assert MultiObjectTracker(params, fps=7).max_late_frames == 7
    assert MultiObjectTracker(TrackerParams(n_init_frames=3, fill_gaps_max_s=0.0), fps=7).max_late_frames == 2
