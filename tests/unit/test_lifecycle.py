"""Track lifecycle and association behaviour of the per-camera tracker on synthetic detections."""

import numpy as np

from tracker.core.detections import Detections
from tracker.core.multi_tracker import MultiObjectTracker
from tracker.core.params import TrackerParams


def _dets(boxes, scores=None, feats=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    d = Detections(boxes, scores)
    return d.with_embeddings(np.asarray(feats, np.float32)) if feats is not None else d


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def _walker(frame, x0=100.0, vx=4.0):
    x = x0 + vx * frame
    return [x, 100.0, x + 40.0, 200.0]


def test_tentative_then_confirmed_with_backfill():
    trk = MultiObjectTracker(TrackerParams(n_init_frames=3), fps=10)
    step1 = trk.update(_dets([_walker(1)]), 1)
    step2 = trk.update(_dets([_walker(2)]), 2)
    assert step1.outputs == [] and step2.outputs == []
    step3 = trk.update(_dets([_walker(3)]), 3)
    assert [o.track_id for o in step3.outputs] == [1]
    assert [(tid, r.frame_index) for tid, r in step3.backfill] == [(1, 1), (1, 2)]


def test_tentative_track_dies_on_first_miss():
    trk = MultiObjectTracker(TrackerParams(n_init_frames=3), fps=10)
    trk.update(_dets([_walker(1)]), 1)
    trk.update(Detections.empty(), 2)
    assert trk.tracks == []


def test_confirmed_track_survives_gap_then_deleted_after_max_age():
    trk = MultiObjectTracker(TrackerParams(n_init_frames=2, max_age_s=0.5), fps=10)  # 5 frames
    for f in range(1, 4):
        trk.update(_dets([_walker(f)]), f)
    for f in range(4, 8):  # 4 missed frames < max age
        trk.update(Detections.empty(), f)
    step = trk.update(_dets([_walker(8)]), 8)
    assert [o.track_id for o in step.outputs] == [1], "re-acquired after a short gap with the same id"
    deleted = []
    for f in range(9, 16):
        deleted += trk.update(Detections.empty(), f).deleted_ids
    assert trk.tracks == [] and deleted == [1]


def test_low_score_detection_extends_track_but_never_starts_one():
    cfg = TrackerParams(n_init_frames=2, high_score_threshold=0.5, new_track_score_threshold=0.6)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1)]), 1)
    trk.update(_dets([_walker(2)]), 2)
    step = trk.update(_dets([_walker(3), [500, 100, 540, 200]], scores=[0.2, 0.3]), 3)
    assert [o.track_id for o in step.outputs] == [1]
    assert len(trk.tracks) == 1


def test_appearance_keeps_identities_through_a_crossing():
    """Two people swap places during a 3-frame occlusion; appearance sends each back to its own track."""
    cfg = TrackerParams(n_init_frames=2, appearance_weight=0.9, max_cosine_distance=0.3)
    trk = MultiObjectTracker(cfg, fps=10)
    fa, fb = _unit([1, 0, 0, 0]), _unit([0, 1, 0, 0])
    for f in range(1, 6):
        step = trk.update(_dets([_walker(f, 100, 10), _walker(f, 300, -10)], feats=[fa, fb]), f)
    ids = {round(o.xyxy[0] / 10) * 10: o.track_id for o in step.outputs}
    id_a, id_b = ids[150], ids[250]
    for f in range(6, 9):
        trk.update(Detections.empty(), f)
    # After the gap, A continues right, B continues left; they are close and IoU alone is ambiguous.
    step = trk.update(_dets([_walker(9, 100, 10), _walker(9, 300, -10)], feats=[fa, fb]), 9)
    got = {round(o.xyxy[0] / 10) * 10: o.track_id for o in step.outputs}
    assert got[190] == id_a and got[210] == id_b


def test_different_appearance_is_not_matched_on_motion_alone():
    """Someone else stepping into a person's predicted box does not take over the track, in any pass (when the
    caller does not mark the continuation unambiguous)."""
    cfg = TrackerParams(n_init_frames=1, max_cosine_distance=0.3)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1)], feats=[_unit([1, 0, 0])]), 1)
    trk.update(_dets([_walker(2)], feats=[_unit([1, 0, 0])]), 2)
    step = trk.update(_dets([_walker(3)], feats=[_unit([0, 0, 1])]), 3)
    assert all(o.track_id != 1 for o in step.outputs)
    assert trk.tracks[0].track_id == 1 and trk.tracks[0].time_since_update == 1


def test_unambiguous_continuation_is_matched_on_motion_whatever_its_embedding():
    """A lone walker's refresh embedding that comes out unlike the track (noise, a dark camera) updates the track
    but cannot split it: the detection continues the one track near it (tracker.trust_unambiguous_motion)."""
    cfg = TrackerParams(n_init_frames=1, max_cosine_distance=0.3)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1)], feats=[_unit([1, 0, 0])]), 1)
    trk.update(_dets([_walker(2)], feats=[_unit([1, 0, 0])]), 2)
    trk.predict()
    noisy = _dets([_walker(3)], feats=[_unit([0, 0, 1])])
    unambiguous = trk.unambiguous_tracks(noisy, easy_iou=0.5, near_iou=0.1)
    assert unambiguous.tolist() == [0]
    step = trk.update(noisy, 3, unambiguous=unambiguous)
    assert [o.track_id for o in step.outputs] == [1] and len(trk.tracks) == 1
    assert trk.tracks[0].feature[2] > 0, "the embedding still updates the track's appearance"


def test_unambiguous_means_one_track_one_detection_nobody_near():
    cfg = TrackerParams(n_init_frames=1)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1), [600, 100, 640, 200]]), 1)
    trk.predict()
    lone = _dets([_walker(2), [602, 100, 642, 200], [900, 100, 940, 200]])
    assert trk.unambiguous_tracks(lone, easy_iou=0.5, near_iou=0.1).tolist() == [0, 1, -1]
    crowd = _dets([_walker(2), np.array(_walker(2)) + [30, 0, 30, 0]])
    assert trk.unambiguous_tracks(crowd, easy_iou=0.5, near_iou=0.1).tolist() == [-1, -1]


def test_iou_pass_without_appearance_gate_is_deepsort_behaviour():
    cfg = TrackerParams(n_init_frames=1, max_cosine_distance=0.3, iou_pass_appearance_gate=False)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1)], feats=[_unit([1, 0, 0])]), 1)
    trk.update(_dets([_walker(2)], feats=[_unit([1, 0, 0])]), 2)
    step = trk.update(_dets([_walker(3)], feats=[_unit([0, 0, 1])]), 3)
    assert [o.track_id for o in step.outputs] == [1]


def test_occluded_detection_does_not_update_appearance():
    cfg = TrackerParams(n_init_frames=1, appearance_update_max_iou=0.3)
    trk = MultiObjectTracker(cfg, fps=10)
    fa = _unit([1, 0, 0])
    trk.update(_dets([_walker(1)], feats=[fa]), 1)
    before = trk.tracks[0].feature.copy()
    overlapping = [_walker(2), np.array(_walker(2)) + [5, 0, 5, 0]]
    step = trk.update(_dets(overlapping, feats=[_unit([1, 0.3, 0]), _unit([0, 0, 1])]), 2)
    assert [o.track_id for o in step.outputs][:1] == [1], "still matched on position and similar appearance"
    np.testing.assert_allclose(trk.tracks[0].feature, before)


def test_memory_is_bounded():
    cfg = TrackerParams(n_init_frames=1, gallery_size=5, max_history=7)
    trk = MultiObjectTracker(cfg, fps=10)
    for f in range(1, 50):
        trk.update(_dets([_walker(f, vx=1)], feats=[_unit([1, 0.01 * f, 0])]), f)
    t = trk.tracks[0]
    assert len(t.gallery) == 5 and len(t.history) == 7


def test_reid_on_demand_skips_only_unambiguous_detections():
    cfg = TrackerParams(n_init_frames=1)
    trk = MultiObjectTracker(cfg, fps=10)
    f1 = _unit([1, 0, 0])
    far = [600, 100, 640, 200]
    trk.update(_dets([_walker(1), far], feats=[f1, _unit([0, 1, 0])]), 1)
    trk.predict()
    # A lone person matching their track well: skip. A detection near nobody (new person): embed.
    dets = _dets([_walker(2), [900, 100, 940, 200]])
    need = trk.embedding_needed(dets, refresh_frames=5, easy_iou=0.5)
    assert need.tolist() == [False, True]
    # Two people close together: both embedded.
    crowd = _dets([_walker(2), np.array(_walker(2)) + [30, 0, 30, 0]])
    assert trk.embedding_needed(crowd, refresh_frames=5, easy_iou=0.5).tolist() == [True, True]
    # refresh_frames=0 disables the optimisation.
    assert trk.embedding_needed(dets, refresh_frames=0, easy_iou=0.5).all()


def test_reid_on_demand_refreshes_features_periodically():
    cfg = TrackerParams(n_init_frames=1)
    trk = MultiObjectTracker(cfg, fps=10)
    trk.update(_dets([_walker(1)], feats=[_unit([1, 0, 0])]), 1)
    needs = []
    for f in range(2, 9):
        trk.predict()
        d = _dets([_walker(f)])
        need = trk.embedding_needed(d, refresh_frames=3, easy_iou=0.5)
        needs.append(bool(need[0]))
        trk.update(d.with_embeddings(np.asarray([_unit([1, 0, 0])] if need[0] else [[0, 0, 0]], np.float32)), f)
    assert needs == [False, False, True, False, False, True, False]


def test_batched_kalman_leaves_each_track_where_filterpy_would():
    """The tracker predicts and corrects all tracks in one batch; replaying one track's matched detections through
    the single-track filterpy path gives the same state."""
    from tracker.core.boxes import xyxy_to_xyah
    from tracker.core.kalman import KalmanModel

    rng = np.random.default_rng(3)
    trk = MultiObjectTracker(TrackerParams(n_init_frames=2), fps=10)
    starts = [(100.0, 4.0), (300.0, -3.0), (500.0, 2.0)]
    for f in range(1, 25):
        boxes = [np.array(_walker(f, x0, vx)) + rng.normal(0, 1.5, 4) for x0, vx in starts if f % 7 or x0 != 300.0]
        trk.update(_dets(boxes), f)
    kf = KalmanModel()
    assert len(trk.tracks) == 3
    for t in trk.tracks:
        records = list(t.history)
        mean, cov = kf.initiate(xyxy_to_xyah(records[0].xyxy))
        frame = records[0].frame_index
        for rec in records[1:]:
            for _ in range(rec.frame_index - frame):
                mean, cov = kf.predict(mean, cov)
            mean, cov = kf.update(mean, cov, xyxy_to_xyah(rec.xyxy))
            frame = rec.frame_index
        np.testing.assert_allclose(t.mean, mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(t.covariance, cov, rtol=1e-9, atol=1e-9)


def test_reid_refresh_is_set_in_seconds_and_follows_the_camera_fps():
    from tracker.pipeline.camera import reid_refresh_frames

    assert reid_refresh_frames(1.5, 7.0) == 10  # at most every 1.5 s: rounded down
    assert reid_refresh_frames(1.5, 25.0) == 37
    assert reid_refresh_frames(1.5, 10.0) == 15  # not 14 through float error
    assert reid_refresh_frames(0.01, 7.0) == 1
    assert reid_refresh_frames(0.0, 30.0) == 0  # Re-ID on demand off: every confident detection is embedded
