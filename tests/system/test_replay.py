"""End-to-end replay with the real detector and Re-ID model, and the accuracy regression gate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from live_helpers import make_clip

from streams.base import Frame
from tracker.cli import main
from tracker.core.tracklet import LateBox, TrackletUpdate
from tracker.offline.mot_sink import MotSink
from tracker.offline.motio import read_mot
from tracker.pipeline.camera import FrameResult

# Acceptance floors of the per-camera pipeline on pets-s2l1-dev/full, against gt_annotation.txt, with the default
# models (OMZ 0287 Re-ID): measured 0.663 / 0.894 / 0.866 with gap filling (tracker.fill_gaps_max_s 1 s; without it
# 0.645 / 0.880 / 0.838). Lowering them needs a reason.
FLOOR_HOTA = 0.65
FLOOR_IDF1 = 0.885
FLOOR_MOTA = 0.855
# The same clip through the hub, scored against gt.txt (one id per person): measured 0.677 / 0.933 / 0.867 with
# gap filling (issue #13 asks for IDF1 >= 0.93; without it 0.659 / 0.918 / 0.840, the ceiling of its boxes).
FLOOR_HUB_HOTA = 0.665
FLOOR_HUB_IDF1 = 0.925
FLOOR_HUB_MOTA = 0.855


def test_replay_short_clip_end_to_end(tmp_path, dev_dir, model_overrides, capsys):
    clip = make_clip(dev_dir, tmp_path / "clip.mp4", 30)
    out = tmp_path / "out"
    sets = sum((["--set", s] for s in model_overrides), [])
    rc = main(["replay", "--camera", f"cam1={clip}", "--out", str(out), "--no-hub", "--no-progress",
               "--save-video", *sets])
    assert rc == 0
    rows = read_mot(out / "cam1.txt")
    assert len(rows) > 50, "people are tracked in the first 30 frames (about 6 visible)"
    assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= 30
    assert np.all(rows[:, 4] > 0) and np.all(rows[:, 5] > 0)
    # Ids are stable over the clip: few ids for about 6 people.
    assert 4 <= len(np.unique(rows[:, 1])) <= 10
    video = cv2.VideoCapture(str(out / "cam1.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    assert "replayed 30 frames" in capsys.readouterr().out


def test_replay_on_detector_streams_gives_the_same_tracks(tmp_path, dev_dir, model_overrides):
    """Two cameras replayed with 2 detector streams (frames of both cameras and the next round detecting at once)
    write exactly what one stream, frame by frame, writes."""
    clips = {cam: make_clip(dev_dir, tmp_path / f"{cam}.mp4", 25, camera=f"two-cam/{cam}") for cam in ("cam1", "cam2")}
    cameras = sum((["--camera", f"{cam}={clip}"] for cam, clip in clips.items()), [])
    sets = sum((["--set", s] for s in model_overrides), [])
    outputs = {}
    for streams in (1, 2):
        out = tmp_path / f"streams{streams}"
        assert main(["replay", *cameras, "--out", str(out), "--no-hub", "--no-progress", *sets,
                     "--set", f"detector.streams={streams}", "--set", "detector.num_threads=2"]) == 0
        outputs[streams] = {cam: (out / f"{cam}.txt").read_text() for cam in clips}
    assert all(len(text.splitlines()) > 20 for text in outputs[1].values()), "people are tracked in both cameras"
    assert outputs[2] == outputs[1]


def test_replay_bad_inputs_give_clear_errors(tmp_path, model_overrides, capsys):
    sets = sum((["--set", s] for s in model_overrides), [])
    rc = main(["replay", "--camera", f"cam1={tmp_path / 'nope.mp4'}", "--out", str(tmp_path / "o"), "--no-hub",
               *sets])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err
    rc = main(["replay", "--camera", "cam1=x.mp4", "--out", str(tmp_path / "o"), "--set",
               "tracker.max_cosine_distance=50"])
    assert rc == 2
    assert "allowed 0 <= value <= 10" in capsys.readouterr().err


def test_missing_model_names_the_key(tmp_path, dev_dir, capsys):
    rc = main(["replay", "--camera", f"cam1={dev_dir / 'full' / 'cam1' / 'video.mp4'}", "--out",
               str(tmp_path / "o"), "--no-hub", "--set", f"detector.weights={tmp_path / 'missing.onnx'}"])
    assert rc == 2
    assert "detector.weights" in capsys.readouterr().err


def _replay_and_score(tmp_path, dev_dir, model_overrides, capsys, *, hub: bool, gt_file: str) -> dict:
    out = tmp_path / ("hub" if hub else "no-hub")
    sets = sum((["--set", s] for s in model_overrides), [])
    extra = [] if hub else ["--no-hub"]
    assert main(["replay", "--camera", f"cam1={dev_dir / 'full' / 'cam1' / 'video.mp4'}", "--out", str(out),
                 *extra, "--no-progress", *sets]) == 0
    capsys.readouterr()
    assert main(["eval", "--gt-dir", str(dev_dir / "full"), "--pred-dir", str(out), "--gt-file", gt_file,
                 "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["cameras"]["cam1"]
    print(f"\nregression full/cam1 ({'hub' if hub else 'no hub'}, {gt_file}): HOTA {scores['hota']:.3f} "
          f"IDF1 {scores['idf1']:.3f} MOTA {scores['mota']:.3f}")
    return scores


@pytest.mark.slow
def test_accuracy_regression_full_clip(tmp_path, dev_dir, default_model_overrides, capsys):
    """Fails if per-camera tracking accuracy on the dev clip drops below the acceptance floor.

    A ``--no-hub`` run cannot link a person who leaves and comes back, so it is scored against the annotation's
    own ids (``gt_annotation.txt``, the MOTChallenge convention), as other per-camera trackers are."""
    scores = _replay_and_score(tmp_path, dev_dir, default_model_overrides, capsys, hub=False,
                               gt_file="gt_annotation.txt")
    assert scores["hota"] >= FLOOR_HOTA
    assert scores["idf1"] >= FLOOR_IDF1
    assert scores["mota"] >= FLOOR_MOTA


@pytest.mark.slow
def test_accuracy_regression_full_clip_with_hub(tmp_path, dev_dir, default_model_overrides, capsys):
    """The product's promise on the dev clip: with the hub, scored against ``gt.txt`` (one id per person, a returning
    person keeps it)."""
    scores = _replay_and_score(tmp_path, dev_dir, default_model_overrides, capsys, hub=True, gt_file="gt.txt")
    assert scores["hota"] >= FLOOR_HUB_HOTA
    assert scores["idf1"] >= FLOOR_HUB_IDF1
    assert scores["mota"] >= FLOOR_HUB_MOTA


def _update(frame: int, track_id: int, x: float) -> TrackletUpdate:
    return TrackletUpdate(camera_id="cam1", local_id=track_id, frame_index=frame, timestamp_s=frame / 7.0,
                          xyxy=np.array([x, 10.0, x + 20.0, 60.0]), confidence=0.9)


def test_mot_sink_writes_backfilled_boxes_in_frame_order_and_nothing_after_a_failed_run(tmp_path):
    """A track confirmed at frame 3 brings its tentative boxes of frames 1-2; they land before frame 3's rows. A
    failed run leaves no file behind."""
    image = np.zeros((80, 120, 3), np.uint8)
    path = tmp_path / "cam1.txt"
    sink = MotSink(path, max_delay_frames=3)
    sink.on_frame(Frame("cam1", 1, 0.0, image), FrameResult(1, 0.0, [_update(1, 5, 0.0)]))
    backfill = [LateBox(7, f, f / 7.0, np.array([50.0 + f, 10.0, 70.0 + f, 60.0]), 0.5) for f in (1, 2)]
    sink.on_frame(Frame("cam1", 2, 0.1, image), FrameResult(2, 0.1, [_update(2, 5, 1.0)]))
    sink.on_frame(Frame("cam1", 3, 0.3, image), FrameResult(3, 0.3, [_update(3, 7, 53.0)], backfill))
    assert not path.exists()
    sink.close()
    rows = read_mot(path)
    assert rows[:, :2].tolist() == [[1, 5], [1, 7], [2, 5], [2, 7], [3, 7]]
    failed = MotSink(tmp_path / "cam2.txt", max_delay_frames=3)
    failed.on_frame(Frame("cam2", 1, 0.0, image), FrameResult(1, 0.0, [_update(1, 5, 0.0)]))
    failed.close(completed=False)
    assert list(tmp_path.iterdir()) == [path]


def test_mot_sink_writes_filled_gaps_in_frame_order(tmp_path):
    """Track 5 is missed in frames 2-3 and found again in frame 4: the boxes filled in over its gap come with frame
    4 (``FrameResult.late``) and land in frame order."""
    image = np.zeros((80, 120, 3), np.uint8)
    path = tmp_path / "cam1.txt"
    sink = MotSink(path, max_delay_frames=3)
    sink.on_frame(Frame("cam1", 1, 0.0, image), FrameResult(1, 0.0, [_update(1, 5, 0.0)]))
    sink.on_frame(Frame("cam1", 2, 0.1, image), FrameResult(2, 0.1, []))
    sink.on_frame(Frame("cam1", 3, 0.2, image), FrameResult(3, 0.2, []))
    filled = [LateBox(5, f, (f - 1) / 10, np.array([f - 1.0, 10.0, f + 19.0, 60.0]), 0.9) for f in (2, 3)]
    sink.on_frame(Frame("cam1", 4, 0.3, image),
                  FrameResult(4, 0.3, [_update(4, 5, 3.0), _update(4, 7, 51.0)], filled))
    sink.close()
    rows = read_mot(path)
    assert rows[:, :2].tolist() == [[1, 5], [2, 5], [3, 5], [4, 5], [4, 7]]
    np.testing.assert_allclose(rows[:, 2], [0.0, 1.0, 2.0, 3.0, 51.0])
