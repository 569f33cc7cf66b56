"""The per-camera pipeline and the frame loop with the real detector and Re-ID model: overlapped stages, detector
streams and cameras sharing them give the same tracks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streams.base import Frame
from streams.factory import open_source
from tracker.config import DetectorConfig, load_config
from tracker.models.detector import UltralyticsDetector
from tracker.models.factory import build_models
from tracker.pipeline.camera import CameraPipeline, FrameResult
from tracker.pipeline.loop import FrameLoop

FRAMES = 40


@pytest.fixture(scope="module")
def setup(dev_dir: Path, detector_weights: Path, reid_weights: Path, reid_cache_dir: Path):
    cfg = load_config(None, [f"detector.weights={detector_weights}", f"reid.weights={reid_weights}",
                             f"reid.cache_dir={reid_cache_dir}", "detector.streams=1"])
    models = build_models(cfg)
    with open_source(str(dev_dir / "full" / "cam1" / "video.mp4"), "cam1", cfg.source) as src:
        frames = [f for f, _ in zip(src, range(FRAMES))]
    return cfg, models, frames


@pytest.fixture(scope="module")
def two_stream_detector(detector_weights: Path) -> UltralyticsDetector:
    return UltralyticsDetector(DetectorConfig(weights=str(detector_weights), streams=2, num_threads=2))


def _tracks(results) -> list[tuple[int, list[tuple[int, list[float]]]]]:
    return [(r.frame_index, [(u.local_id, np.round(u.xyxy, 4).tolist()) for u in r.updates]) for r in results]


class _Collect:
    """A frame sink that keeps what it gets."""

    def __init__(self) -> None:
        self.done: list[tuple[Frame, FrameResult]] = []
        self.closed: list[bool] = []

    def take(self) -> list[tuple[Frame, FrameResult]]:
        done, self.done = self.done, []
        return done

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        self.done.append((frame, result))

    def close(self, *, completed: bool = True) -> None:
        self.closed.append(completed)


@pytest.mark.parametrize("streams", [1, 2])
def test_overlapped_stages_give_the_same_tracks_in_order(setup, two_stream_detector, streams: int) -> None:
    """Re-ID overlapped with the next frame's detection (and, with 2 detector streams, 3 frames detecting at once)
    gives exactly the tracks of the plain frame-by-frame pipeline, in order, a fixed number of frames later."""
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    plain = CameraPipeline(cfg, "cam1", 7.0, *models)
    expected = [plain.process(f) for f in frames]
    cfg.pipeline.overlap = True
    detector = two_stream_detector if streams == 2 else models[0]
    assert detector.max_in_flight == (3 if streams == 2 else 1)
    sink = _Collect()
    loop = FrameLoop({"cam1": CameraPipeline(cfg, "cam1", 7.0, detector, *models[1:])}, [sink])
    lag = detector.max_in_flight  # frames detecting, plus the one in Re-ID, minus the one returned
    got = []
    for i, frame in enumerate(frames):
        loop.submit(frame, decode_ms=1.5)
        done = sink.take()
        assert [f.index for f, _ in done] == ([] if i < lag else [frames[i - lag].index])
        assert loop.has_frames_in_flight()
        got += [r for _, r in done]
    loop.flush()
    last = sink.take()
    assert [f.index for f, _ in last] == [f.index for f in frames[-lag:]] and not loop.has_frames_in_flight()
    loop.flush()
    assert sink.take() == []
    got += [r for _, r in last]
    loop.close()
    assert sink.closed == [True] and loop.frames_done == FRAMES
    assert sum(len(r.updates) for r in expected) > 3 * FRAMES, "people are tracked"
    assert _tracks(got) == _tracks(expected)
    assert all(list(r.timings_ms)[:3] == ["decode", "clahe", "detect"] and r.timings_ms["decode"] == 1.5 and
               {"reid", "associate"} <= set(r.timings_ms) for r in got)


def test_two_cameras_on_one_streaming_detector_come_out_in_submission_order(setup, two_stream_detector) -> None:
    """Frames of two cameras (one ending early) share the detector's streams and the Re-ID overlap: the sinks get
    them in the order they were submitted, each camera with the tracks it gets on its own."""
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    expected = {}
    for cam, n in (("a", 12), ("b", 7)):
        plain = CameraPipeline(cfg, cam, 7.0, *models)
        expected[cam] = _tracks([plain.process(f) for f in frames[:n]])
    cfg.pipeline.overlap = True
    submitted = [replace(f, camera_id=cam) for i, f in enumerate(frames[:12])
                 for cam in ("a", "b") if cam == "a" or i < 7]
    sink = _Collect()
    pipelines = {cam: CameraPipeline(cfg, cam, 7.0, two_stream_detector, *models[1:]) for cam in ("a", "b")}
    with FrameLoop(pipelines, [sink]) as loop:
        assert loop.depth == 3
        for frame in submitted:
            loop.submit(frame)
        loop.flush()
    assert [f for f, _ in sink.done] == submitted and sink.closed == [True]
    for cam in ("a", "b"):
        assert _tracks([r for f, r in sink.done if f.camera_id == cam]) == expected[cam]
    assert all("decode" not in r.timings_ms for _, r in sink.done)


def test_close_drops_frames_still_detecting(setup, two_stream_detector) -> None:
    cfg, models, frames = setup
    sink = _Collect()
    loop = FrameLoop({"cam1": CameraPipeline(cfg, "cam1", 7.0, two_stream_detector, *models[1:])}, [sink])
    loop.submit(frames[0])
    loop.submit(frames[1])
    assert sink.done == [] and loop.has_frames_in_flight()
    loop.close(completed=False)  # waits for both detections and drops them; the detector's streams are free again
    assert sink.done == [] and sink.closed == [False] and not loop.has_frames_in_flight()
    fresh = FrameLoop({"cam1": CameraPipeline(cfg, "cam1", 7.0, two_stream_detector, *models[1:])}, [sink])
    for frame in frames[:5]:
        fresh.submit(frame)
    fresh.flush()
    fresh.close()
    assert [f.index for f, _ in sink.done] == [f.index for f in frames[:5]]


def test_without_overlap_a_submitted_frame_comes_out_at_once(setup) -> None:
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    sink = _Collect()
    loop = FrameLoop({"cam1": CameraPipeline(cfg, "cam1", 7.0, *models)}, [sink])
    loop.submit(frames[0])
    assert [f.index for f, _ in sink.take()] == [frames[0].index] and not loop.has_frames_in_flight()
    with pytest.raises(ValueError, match="camera 'cam2'"):
        loop.submit(replace(frames[1], camera_id="cam2"))
    loop.close()
