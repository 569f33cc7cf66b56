"""Per-camera colour alignment of Re-ID crops (benchmarks/reid_colour_align.py, used by the robustness study)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "reid_colour_align.py"
_SPEC = importlib.util.spec_from_file_location("reid_colour_align", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
colour = importlib.util.module_from_spec(_SPEC)
sys.modules["reid_colour_align"] = colour
_SPEC.loader.exec_module(colour)
CameraColourAligner = colour.CameraColourAligner
ColourAlignMode = colour.ColourAlignMode
ColourReference = colour.ColourReference
RunningColourStats = colour.RunningColourStats
histogram_lut = colour.histogram_lut
moment_luts = colour.moment_luts

REFERENCE = ColourReference(mean_lab=(110.0, 128.0, 130.0), std_lab=(45.0, 6.0, 8.0))


def _lab_stats(crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    px = np.concatenate([cv2.cvtColor(c, cv2.COLOR_BGR2Lab).reshape(-1, 3) for c in crops]).astype(np.float64)
    return px.mean(axis=0), px.std(axis=0)


def _people(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """n synthetic 'person crops': smooth random colour fields, (64, 32, 3) uint8 BGR."""
    out = []
    for _ in range(n):
        small = rng.integers(40, 220, size=(8, 4, 3)).astype(np.uint8)
        out.append(cv2.resize(small, (32, 64), interpolation=cv2.INTER_LINEAR))
    return out


def test_running_stats_are_the_plain_mean_within_the_window() -> None:
    stats = RunningColourStats(window_crops=10)
    a = np.full((5, 3), [10.0, 20.0, 30.0])
    b = np.full((5, 3), [30.0, 40.0, 50.0])
    stats.update(a)
    stats.update(b)
    assert stats.count == 2
    np.testing.assert_allclose(stats.mean, [20.0, 30.0, 40.0])
    np.testing.assert_allclose(stats.std, [10.0, 10.0, 10.0])
    assert stats.hist_l[10] == pytest.approx(0.5) and stats.hist_l[30] == pytest.approx(0.5)


def test_running_stats_forget_with_the_window() -> None:
    stats = RunningColourStats(window_crops=4)
    for _ in range(50):
        stats.update(np.full((3, 3), 0.0))
    for _ in range(50):
        stats.update(np.full((3, 3), 100.0))
    assert stats.mean[0] > 99.0


def test_moment_luts_map_mean_and_std_onto_the_reference() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal([60.0, 120.0, 140.0], [20.0, 4.0, 10.0], size=(20000, 3)).clip(0, 255)
    luts = moment_luts(x.mean(axis=0), x.std(axis=0), REFERENCE, max_gain=4.0)
    assert luts.shape == (3, 256) and luts.dtype == np.uint8
    y = np.stack([luts[c][np.rint(x[:, c]).astype(int)] for c in range(3)], axis=1).astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=0), REFERENCE.mean_lab, atol=1.0)
    np.testing.assert_allclose(y.std(axis=0), REFERENCE.std_lab, rtol=0.1)


def test_moment_luts_clip_the_gain() -> None:
    luts = moment_luts(np.array([128.0, 128.0, 128.0]), np.array([1.0, 1.0, 1.0]), REFERENCE, max_gain=2.0)
    assert int(luts[0][129]) - int(luts[0][128]) <= 2


def test_histogram_lut_matches_a_normal_reference() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(20, 90, size=50000).astype(int)
    lut = histogram_lut(np.bincount(values, minlength=256).astype(float), 110.0, 45.0)
    mapped = lut[values].astype(float)
    assert mapped.mean() == pytest.approx(110.0, abs=2.0)
    assert mapped.std() == pytest.approx(45.0, rel=0.1)
    assert np.all(np.diff(lut[20:91].astype(int)) >= 0)
    np.testing.assert_array_equal(histogram_lut(np.zeros(256), 110.0, 45.0), np.arange(256))


@pytest.mark.parametrize("mode", ["moments", "histogram"])
def test_aligner_removes_a_camera_lighting_change(mode: str) -> None:
    """The same people seen by a bright neutral camera and by a dark, warm one come out of the two cameras'
    aligners with nearly the same colours, much nearer than before alignment."""
    people = _people(np.random.default_rng(2), 60)
    gamma = np.clip(255.0 * (np.arange(256) / 255.0) ** 2.2, 0, 255).astype(np.uint8)
    gains = np.array([0.8, 1.0, 1.2], np.float32)
    distorted = [np.clip(cv2.LUT(p, gamma).astype(np.float32) * gains, 0, 255).astype(np.uint8) for p in people]
    cam_a = CameraColourAligner(REFERENCE, mode, window_crops=1000)
    cam_b = CameraColourAligner(REFERENCE, mode, window_crops=1000)
    for p, d in zip(people, distorted):  # learn the statistics of both cameras
        cam_a(p)
        cam_b(d)
    out_a = [cam_a(p) for p in people]
    out_b = [cam_b(d) for d in distorted]
    before = np.mean([np.abs(p.astype(float) - d).mean() for p, d in zip(people, distorted)])
    after = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(out_a, out_b)])
    assert after < 0.35 * before
    mean_a, _ = _lab_stats(out_a)
    mean_b, _ = _lab_stats(out_b)
    np.testing.assert_allclose(mean_a, mean_b, atol=6.0)


def test_aligner_is_identity_before_any_crop_and_validates() -> None:
    aligner = CameraColourAligner(REFERENCE)
    np.testing.assert_array_equal(aligner.current_luts(), np.tile(np.arange(256, dtype=np.uint8), (3, 1)))
    crop = np.full((40, 20, 3), 90, np.uint8)
    out = aligner(crop)
    assert out.shape == crop.shape and out.dtype == np.uint8 and aligner.stats.count == 1
    with pytest.raises(ValueError, match="use moments or histogram"):
        CameraColourAligner(REFERENCE, cast(ColourAlignMode, "gamma"))
    with pytest.raises(ValueError, match="max_gain"):
        CameraColourAligner(REFERENCE, max_gain=0.5)
