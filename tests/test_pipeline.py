"""The per-camera pipeline with the real detector and Re-ID model: overlapped stages give the same tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.factory import open_source
from tracker.config import load_config
from tracker.pipeline import CameraPipeline
from tracker.replay import build_models

FRAMES = 40


@pytest.fixture(scope="module")
def setup(dev_dir: Path, detector_weights: Path, reid_weights: Path, reid_cache_dir: Path):
    cfg = load_config(None, [f"detector.weights={detector_weights}", f"reid.weights={reid_weights}",
                             f"reid.cache_dir={reid_cache_dir}"])
    models = build_models(cfg)
    with open_source(str(dev_dir / "full" / "cam1" / "video.mp4"), "cam1", cfg.source) as src:
        frames = [f for f, _ in zip(src, range(FRAMES))]
    return cfg, models, frames


def _tracks(results) -> list[tuple[int, list[tuple[int, list[float]]]]]:
    return [(r.frame_index, [(u.local_id, np.round(u.xyxy, 4).tolist()) for u in r.updates]) for r in results]


def test_overlapped_stages_give_the_same_tracks_one_frame_later(setup) -> None:
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    plain = CameraPipeline(cfg, "cam1", 7.0, *models)
    expected = [plain.process(f) for f in frames]
    cfg.pipeline.overlap = True
    overlapped = CameraPipeline(cfg, "cam1", 7.0, *models)
    got = []
    for i, frame in enumerate(frames):
        done = overlapped.submit(frame)
        # the first frame is still in Re-ID when submit returns; after that, each call returns the previous frame
        assert [f.index for f, _ in done] == ([] if i == 0 else [frames[i - 1].index])
        got += [r for _, r in done]
    last = overlapped.flush()
    assert [f.index for f, _ in last] == [frames[-1].index] and overlapped.flush() == []
    got += [r for _, r in last]
    overlapped.close()
    assert sum(len(r.updates) for r in expected) > 3 * FRAMES, "people are tracked"
    assert _tracks(got) == _tracks(expected)
    assert all({"detect", "reid", "associate"} <= set(r.timings_ms) for r in got)


def test_without_overlap_submit_returns_the_frame_itself(setup) -> None:
    cfg, models, frames = setup
    cfg.pipeline.overlap = False
    pipe = CameraPipeline(cfg, "cam1", 7.0, *models)
    done = pipe.submit(frames[0])
    assert [f.index for f, _ in done] == [frames[0].index] and pipe.flush() == []
