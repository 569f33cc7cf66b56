"""The per-camera pipeline with the real detector and Re-ID model: overlapped stages and detector streams give the
same tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.factory import open_source
from tracker.config import DetectorConfig, load_config
from tracker.models.detector import UltralyticsDetector
from tracker.models.factory import build_models
from tracker.pipeline.camera import CameraPipeline

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
    overlapped = CameraPipeline(cfg, "cam1", 7.0, detector, *models[1:])
    lag = detector.max_in_flight  # frames detecting, plus the one in Re-ID, minus the one returned
    got = []
    for i, frame in enumerate(frames):
        done = overlapped.submit(frame)
        assert [f.index for f, _ in done] == ([] if i < lag else [frames[i - lag].index])
        got += [r for _, r in done]
    last = overlapped.flush()
    assert [f.index for f, _ in last] == [f.index for f in frames[-lag:]] and overlapped.flush() == []
    got += [r for _, r in last]
    overlapped.close()
    assert sum(len(r.updates) for r in expected) > 3 * FRAMES, "people are tracked"
    assert _tracks(got) == _tracks(expected)
    assert all({"detect", "reid", "associate"} <= set(r.timings_ms) for r in got)


def test_close_drops_frames_still_detecting(setup, two_stream_detector) -> None:
    cfg, models, frames = setup
    pipe = CameraPipeline(cfg, "cam1", 7.0, two_stream_detector, *models[1:])
    assert pipe.submit(frames[0]) == [] and pipe.submit(frames[1]) == []
    pipe.close()  # waits for both detections and drops them; the detector's streams are free again
    fresh = CameraPipeline(cfg, "cam1", 7.0, two_stream_detector, *models[1:])
    done = []
    for frame in frames[:5]:
        done += [f.index for f, _ in fresh.submit(frame)]
    done += [f.index for f, _ in fresh.flush()]
    fresh.close()
    assert done == [f.index for f in frames[:5]]


def test_without_overlap_submit_returns_the_frame_itself(setup) -> None:
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    pipe = CameraPipeline(cfg, "cam1", 7.0, *models)
    done = pipe.submit(frames[0])
    assert [f.index for f, _ in done] == [frames[0].index] and pipe.flush() == []
